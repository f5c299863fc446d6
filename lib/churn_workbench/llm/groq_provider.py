"""Groq backend (the real `groq` SDK).

The SDK's base URL is the host root (it appends /openai/v1/...) and comes from GROQ_BASE_URL when
set; we never set it ourselves. That is also why this SDK cannot talk to vLLM/Ollama: use the
openai backend for a private endpoint.
"""
from __future__ import annotations


from .base import SDKProvider

DEFAULT_MODELS = {"analysis": "openai/gpt-oss-20b", "action": "openai/gpt-oss-120b"}


class GroqProvider(SDKProvider):
    name = "groq"
    key_env = "GROQ_API_KEY"
    sdk_log_env = "GROQ_LOG"
    schema_keywords = "portable"  # Groq's strict mode: enums, arrays, required fields, no extras

    def _import_sdk(self):
        import groq

        return groq

    def _make_client(self, api_key: str, timeout: float):
        return self._sdk.Groq(api_key=api_key, max_retries=0, timeout=timeout, http_client=self._http_client(timeout))

    def model_for(self, task: str) -> str:
        override = getattr(self.settings, f"{task}_model", None)
        return override or DEFAULT_MODELS[task]

    def build_body(self, model: str, messages: list[dict], response_format: dict | None, max_tokens: int) -> dict:
        body = {"model": model, "messages": messages, "max_completion_tokens": max_tokens}
        if response_format is not None:
            body["response_format"] = response_format
        # gpt-oss models reason before answering and bill those tokens; "low" keeps labels cheap.
        effort = getattr(self.settings, "llm_reasoning_effort", None) or ("low" if "gpt-oss" in model else "")
        if effort:
            body["reasoning_effort"] = effort
        return self.sampling(body)
