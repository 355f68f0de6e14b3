"""Micro-benchmark of the LLM tool step: a home request the intent templates miss, answered by one
constrained JSON tool call of the real LLM (SmolLM2-135M in llama.cpp), from the transcript to the
reply's text.

The skills are built as the app builds them (:func:`roomvoice.skills.setup.build_skills` with the
household tools: timers, reminders, calendar, tasks, announcements) over the 135-entity fake home
of :mod:`benchmarks.large_home`; the LLM engine is :func:`roomvoice.serve.factory.build_llm_engine`
of the default config. Each phrasing is checked to go to the tool step
(:meth:`AssistantCore.route` == ``"tool"``), then timed: ``tool_prompt`` → ``complete_json`` →
``tool_sentence`` (Home Assistant is the in-process fake: its round trip is in ``total_s``).

Per request: prompt tokens, tokens taken from llama.cpp's prefix cache, prompt-eval and generation
seconds, total seconds, the tool and entity chosen, the reply, and whether the choice is right
(the expected tool and entity, or an acceptable alternative).

    .venv/bin/python benchmarks/tool_step.py [--repeat 2] [--label after] [--chat-between]

Writes ``benchmarks/results/tool_step.json`` (keyed by ``--label``, so a before/after pair stays).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.large_home import configure_skills, large_home_server, summary  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "tool_step.json"

# (text, room, acceptable (tool, entity) choices): phrasings the templates do not match
CASES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("It's too dark in the office.", "kitchen",
     (("turn_on", "light.office_ceiling"), ("turn_on", "light.desk_lamp"), ("turn_on", "light.office_shelf"),
      ("set_light_brightness", "light.office_ceiling"), ("set_light_brightness", "light.desk_lamp"),
      ("set_light_brightness", "light.office_shelf"))),
    ("Make the kitchen warmer.", "living_room", (("set_temperature", "climate.kitchen_radiator"),
                                                 ("turn_on", "climate.kitchen_radiator"))),
    ("Did I leave the front door unlocked?", "kitchen", (("get_state", "lock.front_door"),)),
    ("The bedroom is too cold.", "kitchen", (("set_temperature", "climate.bedroom"), ("turn_on", "climate.bedroom"))),
    ("I can't see anything in the hallway.", "kitchen",
     (("turn_on", "light.hallway_ceiling"), ("turn_on", "light.hall_lamp"), ("turn_on", "light.stairs"),
      ("set_light_brightness", "light.hallway_ceiling"), ("set_light_brightness", "light.hall_lamp"))),
    ("It's stuffy in the office.", "kitchen", (("turn_on", "fan.office_fan"), ("set_fan_speed", "fan.office_fan"))),
    ("Could you get the living room blinds up?", "kitchen", (("open_cover", "cover.living_room_blinds"),
                                                             ("set_cover_position", "cover.living_room_blinds"))),
    ("It's way too bright in the kitchen.", "living_room",
     (("set_light_brightness", "light.kitchen_island"), ("turn_off", "light.kitchen_island"),
      ("set_light_brightness", "light.kitchen_ceiling"), ("turn_off", "light.kitchen_ceiling"))),
    ("I'm freezing in the office.", "kitchen", (("set_temperature", "climate.office"), ("turn_on", "climate.office"))),
    ("Get the living room blinds down please.", "kitchen", (("close_cover", "cover.living_room_blinds"),
                                                            ("set_cover_position", "cover.living_room_blinds"))),
    ("It is too hot in the bedroom.", "kitchen", (("set_temperature", "climate.bedroom"),
                                                  ("turn_on", "fan.bedroom_ceiling_fan"))),
    ("It's not bright enough in the living room.", "kitchen",
     tuple((t, e) for t in ("turn_on", "set_light_brightness")
           for e in ("light.living_room_ceiling", "light.living_room_floor_lamp", "light.reading_lamp",
                     "light.tv_backlight"))),
    ("Could I have the dining room chandelier on?", "kitchen", (("turn_on", "light.dining_room_chandelier"),)),
    ("Did I leave the garage door open?", "kitchen", (("get_state", "cover.garage_door"),)),
    ("The office is too warm.", "kitchen", (("set_temperature", "climate.office"), ("turn_on", "fan.office_fan"))),
    ("Let some light into the bedroom.", "kitchen",
     (("open_cover", "cover.bedroom_blinds"), ("open_cover", "cover.bedroom_curtains"),
      ("turn_on", "light.bedroom_ceiling"), ("turn_on", "light.bedroom_lamp"))),
    ("Can we get some air in the bedroom?", "kitchen", (("turn_on", "fan.bedroom_ceiling_fan"),
                                                       ("set_fan_speed", "fan.bedroom_ceiling_fan"))),
    ("I need more light at my desk.", "office", (("turn_on", "light.desk_lamp"),
                                                 ("set_light_brightness", "light.desk_lamp"))),
    ("Is the bedroom fan running?", "living_room", (("get_state", "fan.bedroom_ceiling_fan"),)),
    ("The kids room is chilly.", "kitchen", (("set_temperature", "climate.kids_room"),
                                             ("turn_on", "climate.kids_room"))),
)
ROOMS = {"kitchen": "kitchen", "living_room": "living_room", "office": "office"}


def build(cfg: Any) -> Any:
    """The assistant core the way the Serve ``Assistant`` builds it, with household tools (no database:
    their tools are registered, never run here)."""
    from roomvoice.assistant import AssistantCore
    from roomvoice.skills.personal import PersonalSkills
    from roomvoice.skills.setup import build_skills

    personal = PersonalSkills(_NoDatabase(), tuple(ROOMS), announcer=lambda rooms, text: [])
    skills = build_skills(cfg.skills, timezone=cfg.assistant.timezone, personal=personal)
    return AssistantCore(cfg.llm.system_prompt, cfg.assistant.history_turns, cfg.assistant.timezone, skills=skills,
                         tool_max_tokens=cfg.skills.llm_tool_max_tokens)


class _NoDatabase:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the benchmark has no database")


def run_once(core: Any, engine: Any, text: str, room: str) -> dict[str, Any]:
    from roomvoice.events import AssistantRequest

    request = AssistantRequest(text, room, room)
    t0 = time.monotonic()
    prompt = core.tool_prompt(request)
    t_prompt = time.monotonic() - t0
    stats = None
    raw = None
    if prompt is not None and getattr(prompt, "call", None) is not None:  # settled by the words: no LLM
        raw = prompt.call
        sentence = core.tool_sentence(request, raw, t0, remember=False)
        reply = sentence.text if sentence is not None else "<words>"
    elif prompt is not None and prompt.answer is None:
        raw = engine.complete_json(prompt.messages, prompt.schema, max_tokens=core.tool_max_tokens)
        stats = getattr(engine, "last_json_stats", None)
        try:
            sentence = core.tool_sentence(request, raw, t0, remember=False)
        except Exception as exc:  # a household tool reached the missing database
            sentence = None
            reply = f"<{type(exc).__name__}: {exc}>"
        else:
            reply = sentence.text if sentence is not None else "<words>"
    elif prompt is not None:
        sentence = core.tool_answer(request, prompt, t0, remember=False)
        reply = sentence.text
    else:
        sentence, reply = None, "<no tool step>"
    total = time.monotonic() - t0
    calls = list(sentence.tool_calls) if sentence is not None else []
    tool = entity = None
    if raw:
        try:
            value = json.loads(raw)
            tool = value.get("tool")
            entity = (value.get("arguments") or {}).get("entity_id")
        except (ValueError, AttributeError):
            tool = "<unparsable>"
    return {"prompt_build_s": round(t_prompt, 4), "total_s": round(total, 3), "raw": raw, "tool": tool,
            "entity_id": entity, "reply": reply, "ok": bool(calls and calls[0].ok),
            "code": calls[0].code if calls else None, "tools_offered": len(prompt.tools) if prompt else 0,
            **({k: (round(v, 4) if isinstance(v, float) else v) for k, v in stats.__dict__.items()} if stats else {})}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=2, help="passes over the phrasings (the first one is cold)")
    p.add_argument("--label", default="after", help="key of this run in the json (e.g. before / after)")
    p.add_argument("--chat-between", action="store_true",
                   help="stream a short chat reply between tool calls (as a real session interleaves them)")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)

    from roomvoice.config import load_config
    from roomvoice.skills.llm_tools import CANT_TELL, UNCLEAR
    from roomvoice.serve.factory import build_llm_engine

    cfg = load_config(["rooms=[kitchen]"])
    load_start = os.getloadavg()
    rows: list[dict[str, Any]] = []
    with large_home_server() as fake:
        configure_skills(cfg, fake.url, ROOMS)
        core = build(cfg)
        from roomvoice.events import AssistantRequest

        routes = {text: core.route(AssistantRequest(text, room, room)) for text, room, _ in CASES}
        off = {t: r for t, r in routes.items() if r != "tool"}
        if off:
            print(f"not routed to the tool step: {off}", file=sys.stderr)
        engine = build_llm_engine(cfg.llm)
        t0 = time.monotonic()
        engine.start()
        load_s = time.monotonic() - t0
        warm_s = None
        if hasattr(core, "warm_tools"):
            t0 = time.monotonic()
            core.warm_tools(engine)
            warm_s = round(time.monotonic() - t0, 3)
        for rep in range(args.repeat):
            for text, room, good in CASES:
                if routes[text] != "tool":
                    continue
                if args.chat_between:
                    from roomvoice.events import ChatMessage
                    for _ in engine.stream_chat([ChatMessage("system", cfg.llm.system_prompt),
                                                 ChatMessage("user", "Say hello.")], max_tokens=8):
                        pass
                row = {"pass": rep, "text": text, "room": room, **run_once(core, engine, text, room)}
                row["correct"] = (row["tool"], row["entity_id"]) in good
                rows.append(row)
                print(f"{rep} {row['total_s']:6.2f}s p{row.get('prompt_tokens', '-'):>4} "
                      f"c{row.get('cached_tokens', '-'):>4} pe{row.get('prompt_eval_s', 0):5.2f} "
                      f"g{row.get('gen_s', 0):5.2f} {'OK ' if row['correct'] else 'BAD'} "
                      f"{text[:40]:40} {row['tool']} {row['entity_id']} | {row['reply'][:70]}", flush=True)
    first = rows[0]["total_s"] if rows else None
    warm = [r["total_s"] for r in rows[1:]]
    report = {
        "machine": {"name": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": sys.version.split()[0], "loadavg_at_start": [round(x, 2) for x in load_start]},
        "home": summary(), "model": engine.model_name, "n_threads": engine.n_threads, "load_s": round(load_s, 3),
        "warm_s": warm_s, "chat_between": args.chat_between, "cases": len(CASES),
        "not_routed_to_tool": off,
        "summary": {
            "first_total_s": first,
            "p50_total_s": pct(warm, 0.5), "p95_total_s": pct(warm, 0.95),
            "p50_llm_total_s": pct([r["total_s"] for r in rows[1:] if "prompt_tokens" in r], 0.5),
            "p95_llm_total_s": pct([r["total_s"] for r in rows[1:] if "prompt_tokens" in r], 0.95),
            "p50_prompt_tokens": pct([r["prompt_tokens"] for r in rows if "prompt_tokens" in r], 0.5),
            "p50_prompt_eval_s": pct([r["prompt_eval_s"] for r in rows[1:] if "prompt_eval_s" in r], 0.5),
            "accuracy": round(sum(r["correct"] for r in rows) / len(rows), 3) if rows else None,
            "llm_calls": sum(1 for r in rows if "prompt_tokens" in r),
            "technical_replies": sum(1 for r in rows if not r["ok"] and r["reply"] not in (UNCLEAR, CANT_TELL)
                                     and not r["reply"].startswith("I didn't do that. For safety")),
        },
        "rows": rows,
    }
    print(json.dumps(report["summary"], indent=1))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        old = old if isinstance(old, dict) and "runs" in old else {"benchmark": "tool_step", "runs": {}}
        old["runs"][args.label] = report
        RESULTS.write_text(json.dumps(old, indent=1) + "\n")
        print(f"wrote {RESULTS} [{args.label}]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
