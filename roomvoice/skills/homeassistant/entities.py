"""Home Assistant entities and the index used to find them by spoken name.

Home Assistant's REST ``GET /api/states`` gives each entity's id, state and attributes
(``friendly_name``, ``device_class``, ...) but not its area or voice aliases, so
:meth:`EntityIndex.from_states` takes those from config: a mapping ``entity_id -> area`` and
``entity_id -> [aliases]`` (and optionally ``area -> [aliases]``).

Matching (:meth:`EntityIndex.resolve`) is fuzzy, with ``rapidfuzz``, over every entity's
keys: the friendly name, each alias, the entity id's object part ("kitchen_lights" as
"kitchen lights") and "area + name" ("office ceiling light"). A key's score (0–100) is the best
of ``ratio``, ``token_sort_ratio`` and — only when the query has no more words than the key, so
a long sentence that merely *contains* a name does not match it — 0.9 × ``token_set_ratio``
(so "kitchen" scores 90 against "Kitchen Lights"); plural words are also tried singular
("doors" as "door"). Entities within ``ambiguity_gap`` points of
the best one are ambiguous unless the room's area singles one out.

Misheard names (:meth:`EntityIndex.resolve`): only a *spelling* score of at least ``min_score``
ever acts. Below it, each key is also compared by sound — ``rapidfuzz.fuzz.ratio`` of the
:func:`~roomvoice.skills.homeassistant.names.sound_code` (Metaphone) keys — and the mean of the
spelling and sound scores is the *sound-alike* score: one entity reaching ``suggest_score`` is
offered as a question ("Did you mean the Kitchen Lamp?", code ``entity-unsure``), nothing is
executed; below that the name is unknown. The thresholds (80 to act, 70 to ask) were set on the
demo home and the misheard names in ``tests/skills/test_sound_alike.py`` ("kitchen lamb",
"printa", "bathroom fan" for a bedroom fan asks; "ceiling light" for the kitchen lights, "porch
light" for the garage light do not), not taken from a published source.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from roomvoice.skills.errors import EntityError
from roomvoice.skills.homeassistant.names import fold, sound_code, vocabulary_text
from roomvoice.skills.types import ServiceCall

_LOGGER = logging.getLogger(__name__)

_DROP = re.compile(r"[^\w' ]+")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case, ``_``/``-`` to spaces, punctuation dropped, spaces collapsed."""
    text = text.casefold().replace("’", "'").replace("_", " ").replace("-", " ")
    return _SPACES.sub(" ", _DROP.sub(" ", text)).strip()


def spoken(name: str) -> str:
    """A name as said in a sentence: lower case except acronyms ("Living Room TV" → "living room TV")."""
    return " ".join(w if (w.isupper() and len(w) > 1) else w.lower() for w in name.split())


def join_or(items: Sequence[str]) -> str:
    """``"a"``, ``"a or b"``, ``"a, b or c"``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


@dataclass(frozen=True)
class EntityState:
    """One entry of Home Assistant's ``GET /api/states``.

    Attributes:
        entity_id: ``"<domain>.<object_id>"``.
        state: the state string ("on", "off", "open", "locked", "21.5", "unavailable").
        attributes: the entity's attributes (``friendly_name``, ``device_class``, ...).
    """

    entity_id: str
    state: str
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Entity:
    """A Home Assistant entity as the assistant knows it.

    Attributes:
        entity_id: ``"light.kitchen_lights"``.
        domain: the part before the dot (``"light"``).
        name: the friendly name ("Kitchen Lights").
        area: the area's name ("Kitchen"), or None.
        aliases: other names people use for it ("reading lamp").
        state: the last known state string.
        attributes: the last known attributes (not compared, not hashed).
    """

    entity_id: str
    domain: str
    name: str
    area: str | None = None
    aliases: tuple[str, ...] = ()
    state: str = "unknown"
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def device_class(self) -> str | None:
        """``attributes["device_class"]`` ("window", "garage", ...), or None."""
        value = self.attributes.get("device_class")
        return str(value) if value else None

    @property
    def label(self) -> str:
        """The name to speak, with the area when the name lacks it ("Ceiling Light in the Office")."""
        if self.area and normalize(self.area) not in normalize(self.name):
            return f"{self.name} in the {self.area}"
        return self.name

    @staticmethod
    def from_state(state: EntityState, area: str | None = None, aliases: Sequence[str] = ()) -> Entity:
        """Build from a REST state; the name is ``friendly_name`` or the object id, titled."""
        domain, _, object_id = state.entity_id.partition(".")
        name = str(state.attributes.get("friendly_name") or object_id.replace("_", " ").title())
        return Entity(state.entity_id, domain, name, area or None, tuple(aliases), state.state,
                      dict(state.attributes))


class EntityIndex:
    """Entities by id, exact spoken name and fuzzy match, with their areas.

    Args:
        entities: the entities (ids must be unique).
        area_aliases: other names for areas, ``{"Living Room": ["lounge"]}``.
        min_score: the lowest fuzzy (spelling) score (0–100) that counts as a match.
        ambiguity_gap: entities scoring within this many points of the best are ambiguous.
        suggest_score: the lowest sound-alike score (0–100, mean of spelling and sound) for
            which an unmatched name is answered with "Did you mean ...?".
    """

    def __init__(
        self,
        entities: Iterable[Entity],
        area_aliases: Mapping[str, Sequence[str]] | None = None,
        min_score: float = 80.0,
        ambiguity_gap: float = 5.0,
        suggest_score: float = 70.0,
    ) -> None:
        self._entities = {e.entity_id: e for e in entities}
        self.area_aliases = {a: tuple(v) for a, v in (area_aliases or {}).items()}
        self.min_score = float(min_score)
        self.ambiguity_gap = float(ambiguity_gap)
        self.suggest_score = float(suggest_score)
        self._order = list(self._entities.values())
        self._by_name: dict[str, list[Entity]] = {}
        keys: list[str] = []
        owners: list[int] = []
        for i, e in enumerate(self._order):
            forms = {normalize(e.name), *(normalize(a) for a in e.aliases)}
            for form in forms:
                self._by_name.setdefault(form, []).append(e)
            forms.add(normalize(e.entity_id.partition(".")[2]))
            if e.area and normalize(e.area) not in normalize(e.name):
                forms.add(normalize(f"{e.area} {e.name}"))
            forms |= {normalize(fold(f)) for f in forms}  # "zoe's lamp" for "Zoë's Lamp"
            for form in sorted(f for f in forms if f):
                keys.append(form)
                owners.append(i)
        self._keys = keys
        self._owners = np.asarray(owners, dtype=np.int64)
        self._key_words = np.asarray([len(k.split()) for k in keys], dtype=np.int64)
        self._vocab = sorted({w for k in keys for w in k.split()})  # for mentioned(): word by word
        word_id = {w: i for i, w in enumerate(self._vocab)}
        flat = [(word_id[w], i) for i, k in enumerate(keys) for w in k.split()]
        self._flat_word = np.asarray([w for w, _ in flat], dtype=np.int64)
        self._flat_key = np.asarray([k for _, k in flat], dtype=np.int64)
        self._sounds = [sound_code(k) for k in keys]
        self._has_sound = np.asarray([bool(c) for c in self._sounds], dtype=bool)
        self._areas: dict[str, str] = {}
        for area in sorted({e.area for e in self._order if e.area} | set(self.area_aliases)):
            self._areas[normalize(area)] = area
            for alias in self.area_aliases.get(area, ()):
                self._areas[normalize(alias)] = area

    @classmethod
    def from_states(
        cls,
        states: Iterable[EntityState],
        areas: Mapping[str, str] | None = None,
        aliases: Mapping[str, Sequence[str]] | None = None,
        **kwargs: Any,
    ) -> EntityIndex:
        """Build from ``GET /api/states`` plus config: ``areas`` maps entity id → area name,
        ``aliases`` entity id → extra names. Other keyword arguments go to the constructor."""
        areas, aliases = areas or {}, aliases or {}
        return cls((Entity.from_state(s, areas.get(s.entity_id), aliases.get(s.entity_id, ()))
                    for s in states), **kwargs)

    def with_states(self, states: Iterable[EntityState]) -> EntityIndex:
        """A copy with the state/attributes of the given entities replaced (unknown ids ignored)."""
        updated = dict(self._entities)
        for s in states:
            if s.entity_id in updated:
                updated[s.entity_id] = replace(updated[s.entity_id], state=s.state,
                                               attributes=dict(s.attributes))
        return EntityIndex(updated.values(), self.area_aliases, self.min_score, self.ambiguity_gap,
                           self.suggest_score)

    # --- lookups -------------------------------------------------------------------------
    @property
    def entities(self) -> tuple[Entity, ...]:
        """All entities, in insertion order."""
        return tuple(self._order)

    @property
    def areas(self) -> tuple[str, ...]:
        """Area names, sorted."""
        return tuple(sorted(set(self._areas.values())))

    def area_forms(self) -> list[tuple[str, str]]:
        """``(spoken form, area name)`` for every area and area alias."""
        return sorted(self._areas.items())

    def name_forms(self) -> list[tuple[str, str]]:
        """``(spoken form, domain)`` for every distinct name/alias and the domains it names."""
        return sorted({(form, e.domain) for form, ents in self._by_name.items() for e in ents})

    def get(self, entity_id: str) -> Entity | None:
        """The entity with that id, or None."""
        return self._entities.get(entity_id)

    def area_named(self, text: str | None) -> str | None:
        """The area a name, alias or room id ("living_room") refers to, or None."""
        return self._areas.get(normalize(text)) if text else None

    def by_name(self, text: str, domains: Collection[str] | None = None) -> tuple[Entity, ...]:
        """Entities whose name or alias is exactly ``text`` (after :func:`normalize`)."""
        found = self._by_name.get(normalize(text), [])
        return tuple(e for e in found if domains is None or e.domain in domains)

    def in_area(self, area: str | None, domains: Collection[str] | None = None,
                device_class: str | None = None) -> tuple[Entity, ...]:
        """Entities in ``area`` (None: everywhere), optionally of some domains / a device class."""
        return tuple(e for e in self._order
                     if (area is None or e.area == area)
                     and (domains is None or e.domain in domains)
                     and (device_class is None or e.device_class == device_class))

    def require(self, entity_id: str, domains: Collection[str] | None = None) -> Entity:
        """The entity with that id, checked against the allowed domains.

        Raises:
            EntityError: ``entity-unknown`` or ``entity-wrong-domain`` (``candidates`` holds the id).
        """
        entity = self._entities.get(entity_id)
        if entity is None:
            raise EntityError("entity-unknown", f"There is no entity {entity_id!r}.")
        if domains is not None and entity.domain not in domains:
            raise EntityError("entity-wrong-domain",
                              f"{entity.name} is a {entity.domain.replace('_', ' ')}, not a "
                              f"{join_or([d.replace('_', ' ') for d in sorted(domains)])}.", (entity_id,))
        return entity

    def check_call(self, call: ServiceCall) -> tuple[Entity, ...]:
        """Check that every target of ``call`` exists and is in the call's domain.

        Raises:
            EntityError: ``entity-unknown`` or ``entity-wrong-domain`` (also for no targets).
        """
        if not call.entity_ids:
            raise EntityError("entity-unknown", f"{call.domain}.{call.service} has no target entity.")
        return tuple(self.require(eid, {call.domain}) for eid in call.entity_ids)

    # --- fuzzy matching ------------------------------------------------------------------
    def _spelling(self, query: str) -> np.ndarray:
        """Spelling score (0–100) of every key against the normalised ``query``."""
        words = len(query.split())
        singular = " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
                            for w in query.split())
        queries = [query] if singular == query else [query, singular]  # "doors" also as "door"
        best = np.maximum(process.cdist(queries, self._keys, scorer=fuzz.ratio).max(axis=0),
                          process.cdist(queries, self._keys, scorer=fuzz.token_sort_ratio).max(axis=0))
        token_set = 0.9 * process.cdist(queries, self._keys, scorer=fuzz.token_set_ratio).max(axis=0)
        return np.where(self._key_words >= words, np.maximum(best, token_set), best).astype(np.float64)

    def _per_entity(self, key_scores: np.ndarray, domain: str | Collection[str] | None,
                    area: str | None) -> list[tuple[Entity, float]]:
        domains = {domain} if isinstance(domain, str) else (set(domain) if domain is not None else None)
        per_entity = np.zeros(len(self._order), dtype=np.float64)
        np.maximum.at(per_entity, self._owners, key_scores)
        ranked = [(e, float(s)) for e, s in zip(self._order, per_entity)
                  if s > 0 and (domains is None or e.domain in domains)
                  and (area is None or e.area == area)]
        ranked.sort(key=lambda es: (-es[1], es[0].name, es[0].entity_id))
        return ranked

    def rank(self, text: str, domain: str | Collection[str] | None = None,
             area: str | None = None) -> list[tuple[Entity, float]]:
        """Entities scored 0–100 by spelling against ``text``, best first (those scoring 0 left out)."""
        query = normalize(text)
        if not query or not self._keys:
            return []
        return self._per_entity(self._spelling(query), domain, area)

    def sound_alikes(self, text: str, domain: str | Collection[str] | None = None,
                     area: str | None = None) -> list[tuple[Entity, float]]:
        """Entities scored 0–100 by how much ``text`` looks *and sounds* like one of their keys:
        per key the mean of the spelling score and ``fuzz.ratio`` of the Metaphone keys
        (:func:`~roomvoice.skills.homeassistant.names.sound_code`; keys without one score by
        spelling alone, halved), best first. Used for names speech recognition misheard."""
        query = normalize(text)
        if not query or not self._keys:
            return []
        code = sound_code(query)
        sound = np.zeros(len(self._keys), dtype=np.float64)
        if code:
            sound = np.where(self._has_sound, process.cdist([code], self._sounds, scorer=fuzz.ratio)[0], 0.0)
        return self._per_entity((self._spelling(query) + sound) / 2.0, domain, area)

    def mentioned(self, text: str, min_score: float = 80.0, min_word: float = 70.0) -> list[tuple[Entity, float]]:
        """Entities whose name, alias or area + name is said somewhere in ``text``, word by word:
        each word of a key scores its best ``rapidfuzz.fuzz.ratio`` against the text's words
        ("lights" ~ "light" 91, "lamb" ~ "lamp" 75, "and" ~ "fan" 67); a key scores the mean of its
        words when none is below ``min_word``, else 0; an entity its best key. Those with at least
        ``min_score``, best first, ties by entity id. For picking candidates out of a sentence
        ("make the kitchen lights a bit dimmer", "the lights in the kitchen")."""
        words = sorted(set(normalize(text).split()))
        if not words or not self._keys:
            return []
        best_word = process.cdist(self._vocab, words, scorer=fuzz.ratio).max(axis=1).astype(np.float64)
        per_word = best_word[self._flat_word]
        total = np.zeros(len(self._keys), dtype=np.float64)
        np.add.at(total, self._flat_key, per_word)
        worst = np.full(len(self._keys), 100.0)
        np.minimum.at(worst, self._flat_key, per_word)
        scores = np.where(worst >= min_word, total / self._key_words, 0.0)
        per_entity = np.zeros(len(self._order), dtype=np.float64)
        np.maximum.at(per_entity, self._owners, scores)
        found = [(e, float(s)) for e, s in zip(self._order, per_entity) if s >= min_score]
        found.sort(key=lambda es: (-es[1], es[0].entity_id))
        return found

    def resolve(self, text: str, domain: str | Collection[str] | None = None,
                area: str | None = None, prefer_area: str | None = None) -> Entity:
        """The one entity ``text`` names.

        Args:
            text: what was said or written ("kitchen light", "the reading lamp").
            domain: only entities of this domain (or these domains).
            area: only entities in this area.
            prefer_area: among equally good matches, the one in this area wins (the room
                the command came from).

        Raises:
            EntityError: ``entity-unknown`` (nothing scores ``min_score`` by spelling, nothing
                sounds alike), ``entity-unsure`` (nothing is spelled alike, but one entity
                scores ``suggest_score`` by :meth:`sound_alikes`; the message asks "Did you
                mean the Kitchen Lamp?", ``candidates`` holds its id), ``entity-wrong-domain``
                (only an entity of another domain matches) or ``entity-ambiguous`` (several
                within ``ambiguity_gap``; the message asks "Which one did you mean: Kitchen
                Lights or Kitchen Window?").
        """
        ranked = [(e, s) for e, s in self.rank(text, domain, area) if s >= self.min_score]
        if not ranked:
            if domain is not None:
                others = [(e, s) for e, s in self.rank(text, None, area) if s >= self.min_score]
                if others and (len(others) == 1 or others[1][1] < others[0][1] - self.ambiguity_gap):
                    domains = {domain} if isinstance(domain, str) else set(domain)
                    self.require(others[0][0].entity_id, domains)
            alike = [(e, s) for e, s in self.sound_alikes(text, domain, area) if s >= self.suggest_score]
            if alike:
                close = self._prefer([e for e, s in alike if s >= alike[0][1] - self.ambiguity_gap], prefer_area)
                if len(close) > 1:
                    raise ambiguous(close)
                _LOGGER.debug("%r sounds like %s (score %.0f): asking", text, close[0].entity_id, alike[0][1])
                raise EntityError("entity-unsure", f"Did you mean {self._spoken_label(close[0])}?",
                                  (close[0].entity_id,))
            where = f" in the {area}" if area else ""
            raise EntityError("entity-unknown", f"I don't know any device called {text.strip()!r}{where}.")
        top = ranked[0][1]
        tied = self._prefer([e for e, s in ranked if s >= top - self.ambiguity_gap], prefer_area)
        if len(tied) > 1:
            raise ambiguous(tied)
        _LOGGER.debug("resolved %r to %s (score %.0f)", text, tied[0].entity_id, top)
        return tied[0]

    @staticmethod
    def _prefer(entities: list[Entity], area: str | None) -> list[Entity]:
        if len(entities) > 1 and area:
            local = [e for e in entities if e.area == area]
            if len(local) == 1:
                return local
        return entities

    def _spoken_label(self, entity: Entity) -> str:
        """"the Kitchen Lamp"; "Movie Night" for scenes and scripts; with its area when the name is shared."""
        name = entity.label if len(self._by_name.get(normalize(entity.name), ())) > 1 else entity.name
        return name if entity.domain in ("scene", "script") else f"the {name}"

    # --- speech recognition --------------------------------------------------------------
    def vocabulary(self, max_chars: int = 600) -> str:
        """A speech-recognition hint (whisper's ``initial_prompt``): area names, then entity names
        and their aliases — devices people command first (lights, switches, fans, covers, media
        players, climate, locks, scenes, scripts...), then other domains (sensors...) — then area
        aliases; repeats left out, punctuation made safe, at most ``max_chars`` characters
        (see :func:`~roomvoice.skills.homeassistant.names.vocabulary_text`).

        Returns:
            ``"Bedroom, Garage, ..., Kitchen Lights, Kitchen Window, ..."``; ``""`` for no entities.
        """
        rank = {d: i for i, d in enumerate(_VOCABULARY_DOMAINS)}
        entities = sorted(self._order, key=lambda e: rank.get(e.domain, len(rank)))  # stable: keeps order
        names: list[str] = list(self.areas)
        for e in entities:
            names.append(e.name)
            names.extend(e.aliases)
        names.extend(a for aliases in self.area_aliases.values() for a in aliases)
        return vocabulary_text(names, max_chars)


_VOCABULARY_DOMAINS = ("light", "switch", "fan", "cover", "media_player", "climate", "lock", "scene", "script",
                       "input_boolean", "valve", "vacuum")
"""Domains whose names are said in commands, in the order :meth:`EntityIndex.vocabulary` lists them."""


def ambiguous(entities: Sequence[Entity], limit: int = 4) -> EntityError:
    """An ``entity-ambiguous`` error asking which of ``entities`` was meant."""
    labels = [e.name for e in entities[:limit]]
    if len(set(labels)) < len(labels):
        labels = [e.label for e in entities[:limit]]
    choices = f"{', '.join(labels)} or another one" if len(entities) > limit else join_or(labels)
    return EntityError("entity-ambiguous", f"Which one did you mean: {choices}?",
                       tuple(e.entity_id for e in entities))
