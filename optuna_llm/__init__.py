"""optuna-llm: an Optuna sampler that asks a language model for the next configuration."""

from optuna_llm._chat import ChatReply
from optuna_llm._chat import ChatRequest
from optuna_llm._chat import LLMClient
from optuna_llm._model.client import OpenAIChatClient
from optuna_llm._sampler import LLMSampler
from optuna_llm._study.ledger import study_usage
from optuna_llm.audit import ReplayClient
from optuna_llm.budget import Budget
from optuna_llm.budget import Usage
from optuna_llm.exceptions import EndpointUnavailableError
from optuna_llm.exceptions import InvalidAnswerError
from optuna_llm.exceptions import LocalModelError
from optuna_llm.exceptions import ModelRequestError
from optuna_llm.exceptions import OptunaLLMError
from optuna_llm.guide import Guide
from optuna_llm.report import report


__version__ = "0.1.0.dev0"

__all__ = [
    "Budget",
    "ChatReply",
    "ChatRequest",
    "EndpointUnavailableError",
    "Guide",
    "InvalidAnswerError",
    "LLMClient",
    "LLMSampler",
    "LocalModelError",
    "ModelRequestError",
    "OpenAIChatClient",
    "OptunaLLMError",
    "ReplayClient",
    "Usage",
    "__version__",
    "report",
    "study_usage",
]
