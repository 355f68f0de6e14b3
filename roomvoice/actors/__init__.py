"""Ray actors: one RoomActor per room."""
