from __future__ import annotations

import dataclasses
import json
import pickle
import socket

import pytest

from optuna_llm import ChatRequest
from optuna_llm import EndpointUnavailableError
from optuna_llm import InvalidAnswerError
from optuna_llm import LLMClient
from optuna_llm import ModelRequestError
from optuna_llm import OpenAIChatClient
from optuna_llm._model.client import _every_property_required
from optuna_llm._model.client import make_client
from optuna_llm._model.client import redact
from optuna_llm.testing import ChatCall
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


SCHEMA = {
    "type": "object",
    "properties": {
        "rationale": {"type": "string"},
        "params": {
            "type": "object",
            "properties": {"x": {"type": "number", "minimum": 0, "maximum": 1}},
            "required": ["x"],
            "additionalProperties": False,
        },
    },
    "required": ["rationale", "params"],
    "additionalProperties": False,
}
REQUEST = ChatRequest(
    messages=[{"role": "user", "content": "Propose x."}],
    schema=SCHEMA,
    seed=7,
    temperature=0.5,
    max_tokens=64,
)


def _client(
    server: ScriptedLLMServer, *, max_retries: int = 0, timeout: float = 60.0
) -> OpenAIChatClient:
    return OpenAIChatClient(
        model=server.model, client=server.client(max_retries=max_retries), timeout=timeout
    )


def test_sends_model_seed_temperature_token_limit_and_schema() -> None:
    with ScriptedLLMServer([answer({"x": 0.5})]) as server:
        reply = _client(server).complete(REQUEST)
    body = server.requests[0].body
    assert body["model"] == server.model
    assert (body["seed"], body["temperature"], body["max_tokens"]) == (7, 0.5, 64)
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert body["response_format"]["json_schema"]["strict"] is True
    assert json.loads(reply.text)["params"] == {"x": 0.5}
    assert reply.response_format == "json_schema"
    assert reply.prompt_tokens is not None and reply.prompt_tokens > 0
    assert reply.completion_tokens is not None and reply.completion_tokens > 0
    assert reply.latency >= 0


@pytest.mark.parametrize(
    ("accepted", "expected"),
    [
        (("json_object_schema", "json_object", "text"), "json_object_schema"),
        (("json_object", "text"), "json_object"),
        (("text",), "text"),
    ],
)
def test_steps_down_at_once_to_the_format_the_endpoint_accepts(
    accepted: tuple[str, ...], expected: str
) -> None:
    with ScriptedLLMServer(lambda call: answer({"x": 0.5}), accepted_formats=accepted) as server:
        # The client is allowed retries: a rejected format must not use them.
        client = _client(server, max_retries=2)
        first = client.complete(REQUEST)
        n_probes = len(server.requests)
        second = client.complete(REQUEST)
    formats = [call.response_format for call in server.requests]
    assert first.response_format == second.response_format == expected
    assert n_probes == 4 - len(accepted) + 1
    assert formats[n_probes:] == [expected], "the accepted format must be remembered"
    assert client.response_format == expected


def test_remembered_format_survives_pickling() -> None:
    with ScriptedLLMServer(
        lambda call: answer({"x": 0.5}), accepted_formats=("json_object",)
    ) as server:
        client = _client(server)
        client.complete(REQUEST)
        copy = pickle.loads(pickle.dumps(client))
        assert copy.response_format == "json_object"
        copy.complete(REQUEST)
    assert server.requests[-1].response_format == "json_object"


def test_switches_to_max_completion_tokens_when_max_tokens_is_rejected() -> None:
    def reject_max_tokens(call: ChatCall) -> str | Reply:
        if "max_tokens" in call.body:
            error = {
                "error": {
                    "message": "Unsupported parameter: 'max_tokens'. "
                    "Use 'max_completion_tokens' instead."
                }
            }
            return Reply(status=400, body=json.dumps(error).encode())
        return answer({"x": 0.25})

    with ScriptedLLMServer(reject_max_tokens) as server:
        reply = _client(server).complete(REQUEST)
    assert json.loads(reply.text)["params"] == {"x": 0.25}
    assert server.requests[-1].body["max_completion_tokens"] == 64


def test_server_error_is_a_model_request_error_after_retries() -> None:
    error = json.dumps({"error": {"message": "overloaded"}}).encode()
    with ScriptedLLMServer(lambda call: Reply(status=503, body=error)) as server:
        client = _client(server, max_retries=1)
        with pytest.raises(ModelRequestError, match="HTTP 503"):
            client.complete(REQUEST)
        n_first = len(server.requests)
        with pytest.raises(ModelRequestError, match="HTTP 503"):
            client.complete(REQUEST)
    # The first call probes once without retries, then spends its one retry (1 + max_retries
    # attempts in all); an unrelated error must not step the format down.
    assert n_first == 2
    assert {call.response_format for call in server.requests} == {"json_schema"}


def test_unreachable_endpoint_is_a_model_request_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenAIChatClient(
        model="m", base_url=f"http://127.0.0.1:{port}/v1", timeout=2, max_retries=0
    )
    with pytest.raises(ModelRequestError, match="cannot reach"):
        client.complete(REQUEST)


def test_late_answer_is_a_model_request_error() -> None:
    with ScriptedLLMServer(lambda call: Reply(content=answer({"x": 0.5}), delay=1.0)) as server:
        client = _client(server, timeout=0.2)
        with pytest.raises(ModelRequestError, match=r"no answer within 0\.2 s"):
            client.complete(REQUEST)


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (Reply(content=""), InvalidAnswerError, "empty"),
        (Reply(content=None), InvalidAnswerError, "empty"),
        (Reply(content=None, refusal="I cannot help with that."), ModelRequestError, "refused"),
        (Reply(content="{}", choices=False), ModelRequestError, "no choices"),
    ],
)
def test_unusable_replies(reply: Reply, error: type[Exception], message: str) -> None:
    with ScriptedLLMServer([reply]) as server, pytest.raises(error, match=message):
        _client(server).complete(REQUEST)


def test_api_key_is_redacted_from_errors_and_never_in_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "sk-proj-SECRET0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {secret}."}})
    with ScriptedLLMServer(lambda call: Reply(status=401, body=body.encode())) as server:
        client = OpenAIChatClient(model="m", base_url=server.base_url, max_retries=0)
        with pytest.raises(ModelRequestError) as raised:
            client.complete(REQUEST)
    assert secret not in str(raised.value)
    assert "HTTP 401" in str(raised.value)
    assert secret not in repr(client)
    assert secret.encode() not in pickle.dumps(client)


def test_redact_hides_key_like_strings() -> None:
    assert redact("bad key sk-abcdEFGH1234 given") == "bad key *** given"
    assert redact("nothing secret here") == "nothing secret here"


def test_endpoint_hides_credentials() -> None:
    client = OpenAIChatClient(model="m", base_url="http://user:pw@example.com:8080/v1/")
    assert client.endpoint == "http://example.com:8080/v1"
    assert "pw" not in repr(client)


def test_builds_client_without_key_for_explicit_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ScriptedLLMServer([answer({"x": 0.5})]) as server:
        client = OpenAIChatClient(model=server.model, base_url=server.base_url)
        assert json.loads(client.complete(REQUEST).text)["params"] == {"x": 0.5}


def test_missing_key_for_default_endpoint_is_a_model_request_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    client = OpenAIChatClient(model="m")
    with pytest.raises(ModelRequestError, match="api_key"):
        client.complete(REQUEST)


def test_openai_chat_client_is_an_llm_client() -> None:
    assert isinstance(OpenAIChatClient(model="m", base_url="http://127.0.0.1:1/v1"), LLMClient)


@pytest.mark.parametrize(
    ("schema", "strict"),
    [
        (SCHEMA, True),
        (
            {
                "type": "object",
                "properties": {"p": {"type": "array", "items": SCHEMA}},
                "required": ["p"],
            },
            True,
        ),
        ({"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a"]}, False),
        ({"type": "array", "items": {"type": "object", "properties": {"a": {}}}}, False),
    ],
)
def test_strict_json_schema_only_when_every_property_is_required(
    schema: dict[str, object], strict: bool
) -> None:
    assert _every_property_required(schema) is strict


@pytest.mark.parametrize(
    ("reply", "unavailable"),
    [
        (Reply(status=503, body=b'{"error": {"message": "overloaded"}}'), True),
        (Reply(status=500, body=b'{"error": {"message": "boom"}}'), True),
        (Reply(status=429, body=b'{"error": {}}'), True),
        (Reply(status=401, body=b'{"error": {"message": "bad key"}}'), False),
        (Reply(status=404, body=b'{"error": {"message": "no such model"}}'), False),
        (Reply(content=None, refusal="No."), False),
    ],
)
def test_failures_of_the_endpoint_itself_say_it_is_unavailable(
    reply: Reply, unavailable: bool
) -> None:
    with ScriptedLLMServer(lambda call: reply) as server:
        client = _client(server)
        with pytest.raises(ModelRequestError) as raised:
            client.complete(REQUEST)
    assert isinstance(raised.value, EndpointUnavailableError) is unavailable


def test_timeouts_and_refused_connections_say_the_endpoint_is_unavailable() -> None:
    late = Reply(content=answer({"x": 0.5}), delay=1.0)
    with (
        ScriptedLLMServer(lambda call: late) as server,
        pytest.raises(EndpointUnavailableError, match="no answer within"),
    ):
        _client(server, timeout=0.2).complete(REQUEST)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenAIChatClient(model="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    with pytest.raises(EndpointUnavailableError, match="cannot reach"):
        client.complete(REQUEST)


def test_a_request_without_retry_is_sent_once() -> None:
    error = b'{"error": {"message": "overloaded"}}'
    with ScriptedLLMServer(lambda call: Reply(status=503, body=error)) as server:
        client = _client(server, max_retries=3)
        with pytest.raises(EndpointUnavailableError):
            client.complete(dataclasses.replace(REQUEST, retry=False))
        assert len(server.requests) == 1
        with pytest.raises(EndpointUnavailableError):
            client.complete(REQUEST)
        assert len(server.requests) == 1 + 4


def test_make_client_is_the_one_way_to_a_client() -> None:
    own = OpenAIChatClient(model="m", base_url="http://127.0.0.1:1/v1")
    assert make_client(model=None, client=own) is own
    built = make_client(model="m", base_url="http://127.0.0.1:1/v1", timeout=3.0)
    assert isinstance(built, OpenAIChatClient) and built.model == "m"
    with pytest.raises(ValueError, match="No model to ask"):
        make_client(model=None)
