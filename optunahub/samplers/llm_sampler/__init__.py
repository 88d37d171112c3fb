"""LLMSampler from optuna-llm, for OptunaHub.

The sampler lives in the ``optuna-llm`` package; this module only re-exports it, so install
the package first::

    pip install optuna-llm
"""

try:
    from optuna_llm import Budget
    from optuna_llm import Guide
    from optuna_llm import LLMSampler
    from optuna_llm.local import LocalLLMServer
    from optuna_llm.schedules import EveryKth
    from optuna_llm.schedules import FirstTrials
    from optuna_llm.schedules import Share
except ModuleNotFoundError as error:
    if error.name != "optuna_llm":
        raise
    raise ModuleNotFoundError(
        "samplers/llm_sampler needs the optuna-llm package. Install it with: "
        "pip install optuna-llm",
        name=error.name,
    ) from error


__all__ = [
    "Budget",
    "EveryKth",
    "FirstTrials",
    "Guide",
    "LLMSampler",
    "LocalLLMServer",
    "Share",
]
