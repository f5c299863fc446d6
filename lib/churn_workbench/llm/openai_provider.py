"""OpenAI-compatible backend (the real `openai` SDK): vLLM, Ollama, or any endpoint that
speaks /v1/chat/completions with structured outputs.

OPENAI_BASE_URL is required, so a run meant for a private endpoint can never fall through to
the SDK's public default. OPENAI_API_KEY is required too (local servers accept any value).
"""
from __future__ import annotations


from .. import config
from .base import ConfigurationError, SDKProvider


class OpenAIProvider(SDKProvider):
    name = "openai"
    key_env = "OPENAI_API_KEY"
    sdk_log_env = "OPENAI_LOG"

    def __init__(self, settings=None):
        super().__init__(settings)
        if not config.secret("OPENAI_BASE_URL"):
            self.close()
            raise ConfigurationError(
                "the 'openai' LLM backend needs OPENAI_BASE_URL (e.g. http://localhost:8000/v1 for vLLM, "
                "http://localhost:11434/v1 for Ollama); it is not set")

    def _import_sdk(self):
        import openai

        return openai

    def _make_client(self, api_key: str, timeout: float):
        # base_url is left to the SDK, which reads OPENAI_BASE_URL.
        return self._sdk.OpenAI(api_key=api_key, max_retries=0, timeout=timeout, http_client=self._http_client(timeout))

    def model_for(self, task: str) -> str:
        model = getattr(self.settings, f"{task}_model", None) or getattr(self.settings, "openai_model", None)
        if not model:
            raise ConfigurationError(
                "the 'openai' LLM backend needs a model id: set WORKBENCH_OPENAI_MODEL "
                "(or WORKBENCH_ANALYSIS_MODEL / WORKBENCH_ACTION_MODEL)")
        return model

    def build_body(self, model: str, messages: list[dict], response_format: dict | None, max_tokens: int) -> dict:
        # max_tokens rather than max_completion_tokens: the one every compatible server knows.
        body = {"model": model, "messages": messages, "max_tokens": max_tokens}
        if response_format is not None:
            body["response_format"] = response_format
        effort = getattr(self.settings, "llm_reasoning_effort", None)
        if effort:
            body["reasoning_effort"] = effort
        return self.sampling(body)
