"""Voice services backed by the Ray Serve deployments (looked up by name in the app)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from roomvoice.events import AssistantRequest, ReplySentence, SpeechAudio, Transcript, Utterance

logger = logging.getLogger(__name__)


class ServeServices:
    """:class:`~roomvoice.rooms.room.VoiceServices` that call the Serve app through ``DeploymentHandle``s.

    Args:
        app_name: the Serve application name (``ray.app_name``).
        timeout_s: wall seconds allowed for one STT or TTS call.
    """

    def __init__(self, app_name: str, timeout_s: float = 60.0) -> None:
        from ray import serve

        self.timeout_s = timeout_s
        self._stt = serve.get_deployment_handle("SpeechToText", app_name=app_name)
        self._assistant = serve.get_deployment_handle("Assistant", app_name=app_name)
        self._tts = serve.get_deployment_handle("TextToSpeech", app_name=app_name)
        self._first_pass: bool | None = None

    @property
    def first_pass(self) -> bool:
        """True when the SpeechToText deployment has a fast first-pass engine (asked once)."""
        if self._first_pass is None:
            try:
                self._first_pass = bool(self._stt.has_first_pass.remote().result(timeout_s=self.timeout_s))
            except Exception as exc:  # asked again next time; the main engine hears meanwhile
                logger.warning("could not ask SpeechToText for its first pass: %s", exc)
                return False
        return self._first_pass

    def transcribe(self, utterance: Utterance, prompt: str | None = None, first_pass: bool = False) -> Transcript:
        """Speech-to-text of ``utterance`` (``prompt``: words to bias towards; ``first_pass``: with
        the fast first-pass engine)."""
        return self._stt.transcribe.remote(utterance.samples, prompt, first_pass).result(timeout_s=self.timeout_s)

    def reply(self, request: AssistantRequest) -> Iterable[ReplySentence]:
        """The Assistant's streamed reply: a Serve response generator, whose ``cancel()`` stops the
        reply and (through the Assistant) the LLM's generation."""
        return self._assistant.options(stream=True).reply.remote(request)

    def route(self, request: AssistantRequest) -> str:
        """Where the Assistant would send ``request``: ``fast_path``, ``tool`` or ``llm`` (nothing runs)."""
        return self._assistant.route.remote(request).result(timeout_s=self.timeout_s)

    def vocabulary(self) -> str:
        """The home's names and areas (STT biasing)."""
        return self._assistant.vocabulary.remote().result(timeout_s=self.timeout_s)

    def remember(self, request: AssistantRequest, reply: str) -> None:
        """Store an exchange whose reply was made preemptively, now that it was used."""
        self._assistant.remember.remote(request, reply).result(timeout_s=self.timeout_s)

    def synthesize(self, text: str) -> list[SpeechAudio]:
        """Text-to-speech of one sentence through the TextToSpeech deployment."""
        return self._tts.synthesize.remote(text).result(timeout_s=self.timeout_s)

    def synthesize_cancellable(self, text: str, on_cancel: Callable[[Callable[[], None]], None]) -> list[SpeechAudio]:
        """:meth:`synthesize`, registering the Serve request's ``cancel`` with ``on_cancel`` (barge-in)."""
        response = self._tts.synthesize.remote(text)
        on_cancel(response.cancel)
        return response.result(timeout_s=self.timeout_s)
