"""Home Assistant control: the REST client, the entity index and the LLM tools.

* :mod:`.client` — :class:`HomeAssistantClient` (``httpx``; reads retried, calls never);
* :mod:`.entities` — :class:`Entity`, :class:`EntityIndex` (fuzzy name resolution);
* :mod:`.tools` — :class:`HomeAssistantTools` (registry tools, service-call execution);
* :mod:`.demo_home` — a small realistic home for the demo, tests and benchmarks.
"""

from roomvoice.skills.homeassistant.client import HomeAssistantClient
from roomvoice.skills.homeassistant.entities import Entity, EntityIndex, EntityState
from roomvoice.skills.homeassistant.tools import HomeAssistantTools

__all__ = ["Entity", "EntityIndex", "EntityState", "HomeAssistantClient", "HomeAssistantTools"]
