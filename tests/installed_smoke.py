"""A smoke test that tests/test_packaging.py runs in a fresh environment with the wheel installed.

It is run from a folder outside the checkout, so ``import optuna_llm`` can only find the
installed package. It fails (exits non-zero) at the first thing an installed package cannot
do: a short study against the scripted server, the command-line entry point, and one request
to the bundled model started from the installed ``local`` extra.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import sysconfig

import optuna

import optuna_llm
from optuna_llm.local import LocalLLMServer
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


def check_installed() -> None:
    installed = Path(sysconfig.get_paths()["purelib"]).resolve()
    location = Path(optuna_llm.__file__).resolve()
    if installed not in location.parents:
        raise SystemExit(f"optuna_llm was imported from {location}, not from {installed}")
    if not (location.parent / "py.typed").is_file():
        raise SystemExit("the installed package has no py.typed")
    print(f"optuna_llm {optuna_llm.__version__} from the installed wheel")


def short_study() -> None:
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        sampler = optuna_llm.LLMSampler(
            model="scripted", base_url=server.base_url, task="Minimize x^2 + y^2.", seed=0
        )
        study = optuna.create_study(sampler=sampler)
        study.optimize(
            lambda t: t.suggest_float("x", -1.0, 1.0) ** 2 + t.suggest_float("y", -1.0, 1.0) ** 2,
            n_trials=4,
        )
    sources = [t.user_attrs.get("llm:source") for t in study.trials]
    asked = len(server.requests)
    if len(study.trials) != 4 or not asked or "llm" not in sources:
        raise SystemExit(f"the scripted study went wrong: sources {sources}, {asked} requests")
    print(f"a 4-trial study asked the scripted server {asked} time(s): sources {sources}")


def command_line() -> None:
    script = Path(sysconfig.get_paths()["scripts"]) / "optuna-llm"
    shown = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
    if "usage: optuna-llm" not in shown.stdout:
        raise SystemExit(f"optuna-llm --help printed: {shown.stdout!r}")
    print("optuna-llm --help works")


def bundled_model() -> None:
    with LocalLLMServer() as llm:
        reply = llm.client().chat.completions.create(
            model=llm.model,
            messages=[{"role": "user", "content": "Say OK."}],
            max_tokens=4,
            temperature=0.0,
        )
    text = reply.choices[0].message.content
    if not text:
        raise SystemExit("the bundled model gave an empty answer")
    print(f"the bundled model answered {text!r}")


if __name__ == "__main__":
    check_installed()
    short_study()
    command_line()
    bundled_model()
    sys.exit(0)
