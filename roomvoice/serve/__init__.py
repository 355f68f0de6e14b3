"""Ray Serve side of roomvoice: engines (plain Python) and the deployments that wrap them."""
