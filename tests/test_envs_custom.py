"""Custom environments given as ``module:id`` (gymnasium's convention): the module is imported in
every process that builds the env (in-process, ``SubprocVecEnv`` workers, ``wnrl train``/``eval``,
``wnrl compare`` workers on the local pool and on Ray); errors are one line. And headless rendering
prints nothing from SDL/pygame."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

from wnrl.cli import main
from wnrl.envs import EnvError, UnknownEnvError, env_family, import_env_module, make_eval_env, make_vec_env

PKG = "mypkg_wnrl_test"
ENV_ID = f"{PKG}.envs:WnrlToy-v0"
WNRL = Path(sys.executable).parent / "wnrl"  # the console script of this environment

TOY_ENVS = '''\
"""A 10-step env: observation Box(3), actions {0, 1}, reward = action; reset info names the process."""
import os

import gymnasium
import numpy as np
from gymnasium import spaces


class WnrlToy(gymnasium.Env):
    def __init__(self):
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(3, dtype=np.float32), {"pid": os.getpid()}

    def step(self, action):
        self.t += 1
        obs = np.full(3, self.t / 10, dtype=np.float32)
        return obs, float(action), self.t >= 10, False, {}


gymnasium.register(id="WnrlToy-v0", entry_point="mypkg_wnrl_test.envs:WnrlToy")
'''

TINY_TRAIN = {"total_timesteps": 256, "eval_freq": 128, "eval_episodes": 2, "device": "cpu", "checkpoint_freq": 0}
TINY_AGENT = {"algo": "ppo", "net_arch": [8], "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1}}


def _write_pkg(root: Path) -> Path:
    (root / PKG).mkdir(parents=True, exist_ok=True)
    (root / PKG / "__init__.py").write_text("")
    (root / PKG / "envs.py").write_text(TOY_ENVS)
    return root


def _forget_pkg() -> None:
    for name in [m for m in sys.modules if m == PKG or m.startswith(PKG + ".")]:
        del sys.modules[name]
    gym.registry.pop("WnrlToy-v0", None)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the toy package (not on the path by itself)."""
    return _write_pkg(tmp_path_factory.mktemp("site"))


@pytest.fixture
def on_path(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The toy package importable in this process and in its children, not yet imported."""
    _forget_pkg()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    yield site
    _forget_pkg()


def _cli_env(site: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return env


def _cli(*args: str | Path, cwd: Path, site: Path | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WNRL), *map(str, args)], cwd=cwd, env=_cli_env(site), capture_output=True, text=True, timeout=300
    )


def _missing_message(module: str, env_id: str, missing: str) -> str:
    return (
        f"cannot import module {module!r} of env id {env_id!r} (ModuleNotFoundError: No module named "
        f"{missing!r}); install it or put it on PYTHONPATH"
    )


# --- in-process ------------------------------------------------------------------------------------


def test_make_vec_env_imports_the_module_and_steps(on_path: Path) -> None:
    assert f"{PKG}.envs" not in sys.modules and "WnrlToy-v0" not in gym.registry
    venv = make_vec_env(ENV_ID, n_envs=2, seed=0)
    assert f"{PKG}.envs" in sys.modules and venv.num_envs == 2
    obs = venv.reset()
    assert obs.shape == (2, 3) and obs.dtype == np.float32
    obs, rew, done, _ = venv.step(np.array([0, 1]))
    np.testing.assert_array_equal(rew, [0.0, 1.0])
    np.testing.assert_allclose(obs, 0.1)
    venv.close()
    assert import_env_module(ENV_ID) == "WnrlToy-v0" and import_env_module("CartPole-v1") == "CartPole-v1"
    assert env_family(ENV_ID) is None and env_family("ale_py:ALE/Pong-v5") == "atari"


def test_subprocess_env_and_eval_env_import_it_too(on_path: Path) -> None:
    """A spawned ``SubprocVecEnv`` worker builds the env in another process; the eval env also works."""
    venv = make_vec_env(ENV_ID, n_envs=1, seed=0, vec_env="subproc", vec_env_kwargs={"start_method": "spawn"})
    try:
        venv.reset()
        assert venv.reset_infos[0]["pid"] != os.getpid()
    finally:
        venv.close()
    eval_env = make_eval_env(ENV_ID, train_env=make_vec_env(ENV_ID, normalize_obs=True))
    assert eval_env.reset().shape == (1, 3)
    eval_env.close()


def test_missing_module_is_a_one_line_env_error() -> None:
    env_id = "nopkg_wnrl_test.envs:WnrlToy-v0"
    with pytest.raises(EnvError) as info:
        make_vec_env(env_id, n_envs=2)
    assert str(info.value) == _missing_message("nopkg_wnrl_test.envs", env_id, "nopkg_wnrl_test")
    assert not isinstance(info.value, UnknownEnvError)


def test_module_without_the_id_and_broken_modules(on_path: Path) -> None:
    """The module imports but registers no such id: the usual unknown-env message, with suggestions
    written as ``module:id``. A module that fails on import: one line naming the cause."""
    with pytest.raises(UnknownEnvError) as info:
        make_vec_env(f"{PKG}.envs:WnrlToi-v0")
    msg = str(info.value)
    assert msg.startswith(f"unknown environment '{PKG}.envs:WnrlToi-v0' (imported '{PKG}.envs'; "), msg
    assert f"Did you mean '{ENV_ID}'" in msg and "\n" not in msg
    with pytest.raises(UnknownEnvError, match="Did you mean 'CartPole-v1'"):  # a built-in: no prefix
        make_vec_env(f"{PKG}.envs:CartPol-v1")
    with pytest.raises(EnvError) as info:
        make_vec_env(f"{PKG}.nothere:WnrlToy-v0")
    assert str(info.value) == _missing_message(f"{PKG}.nothere", f"{PKG}.nothere:WnrlToy-v0", f"{PKG}.nothere")

    (on_path / "wnrl_test_needs_dep.py").write_text("import wnrl_test_absent_dep\n")
    (on_path / "wnrl_test_raises.py").write_text("x = 1\nraise RuntimeError('bad\\nsecond line')\n")
    importlib.invalidate_caches()
    with pytest.raises(EnvError) as info:
        make_vec_env("wnrl_test_needs_dep:X-v0")
    assert str(info.value) == (
        "cannot import module 'wnrl_test_needs_dep' of env id 'wnrl_test_needs_dep:X-v0' (ModuleNotFoundError: "
        "No module named 'wnrl_test_absent_dep'); it imports 'wnrl_test_absent_dep': install that"
    )
    with pytest.raises(EnvError) as info:
        make_vec_env("wnrl_test_raises:X-v0")
    assert str(info.value) == (
        "cannot import module 'wnrl_test_raises' of env id 'wnrl_test_raises:X-v0' (RuntimeError: bad), "
        f"raised at {on_path / 'wnrl_test_raises.py'}:2"
    )
    for bad in (":X-v0", "mod:", "a:b:X-v0"):
        with pytest.raises(EnvError, match="malformed environment id .*write MODULE:ID"):
            make_vec_env(bad)


BROKEN_ENVS = """\
import gymnasium


class Broken(gymnasium.Env):
    def __init__(self, fail=True):
        raise RuntimeError("no licence server\\nsecond line")


gymnasium.register(id="WnrlBroken-v0", entry_point="wnrl_test_broken:Broken")
"""


def test_a_module_calling_sys_exit_and_a_constructor_that_raises_are_one_line(
    on_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``sys.exit(3)`` on import made wnrl exit 3 without a word; an env whose constructor raises
    gave a traceback (its import failure was already one line). Both: one line naming the env id,
    the exception and where it was raised; ``wnrl train`` exits 2 and writes nothing."""
    (on_path / "wnrl_test_exits.py").write_text("import sys\nsys.exit(3)\n")
    (on_path / "wnrl_test_broken.py").write_text(BROKEN_ENVS)
    importlib.invalidate_caches()
    try:
        with pytest.raises(EnvError) as info:
            make_vec_env("wnrl_test_exits:X-v0")
        assert str(info.value) == (
            "cannot import module 'wnrl_test_exits' of env id 'wnrl_test_exits:X-v0' (SystemExit: 3): it calls "
            f"sys.exit when imported, raised at {on_path / 'wnrl_test_exits.py'}:2; importing it must only "
            "register the env"
        )
        with pytest.raises(EnvError) as info:
            make_vec_env("wnrl_test_broken:WnrlBroken-v0", n_envs=2)
        assert str(info.value) == (
            "environment 'wnrl_test_broken:WnrlBroken-v0' failed to build (RuntimeError: no licence server, "
            f"raised at {on_path / 'wnrl_test_broken.py'}:6); fix the environment or env.kwargs"
        )
        with pytest.raises(EnvError, match="failed to build .RuntimeError: no licence server"):  # not in a worker
            make_vec_env("wnrl_test_broken:WnrlBroken-v0", n_envs=2, vec_env="subproc")
        with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):  # env.kwargs: the caller's
            make_vec_env("wnrl_test_broken:WnrlBroken-v0", env_kwargs={"colour": 1})
        for env_id, needle in (
            ("wnrl_test_exits:X-v0", "SystemExit: 3"),
            ("wnrl_test_broken:WnrlBroken-v0", "licence"),
        ):
            cfg = tmp_path / "cfg.yaml"
            cfg.write_text(yaml.safe_dump({"env": {"id": env_id}, "agent": TINY_AGENT, "train": TINY_TRAIN}))
            capsys.readouterr()
            assert main(["train", str(cfg), "--out", str(tmp_path / "run")]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"{cfg}: env.id: " in err and needle in err, err
            assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"]
    finally:
        sys.modules.pop("wnrl_test_broken", None)
        gym.registry.pop("WnrlBroken-v0", None)


# --- the command line (subprocesses: the module is imported there, found via PYTHONPATH) ------------


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_compare_trains_and_eval_evaluates_a_custom_env(site: Path, tmp_path: Path, backend: str) -> None:
    if backend == "ray":
        pytest.importorskip("ray")
    sweep = {
        "name": "custom",
        "base": {"env": {"id": ENV_ID, "n_envs": 2}, "agent": TINY_AGENT, "train": TINY_TRAIN},
        "grid": {"agent.norm": ["none", "weight"]},
        "seeds": 1,
    }
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    out = tmp_path / "out"
    proc = _cli("compare", path, "--out", out, "--workers", "2", "--backend", backend, cwd=tmp_path, site=site)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    results = {p.parent.name: json.loads(p.read_text()) for p in (out / "runs").glob("*/result.json")}
    assert len(results) == 2, sorted(results)
    assert all(r["status"] == "finished" for r in results.values()), results
    run_dir = sorted((out / "runs").glob("*/result.json"))[0].parent
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["env"]["id"] == ENV_ID  # as written
    if backend == "local":
        proc = _cli("eval", run_dir, "--episodes", "2", cwd=tmp_path, site=site)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "over 2 episodes (clean)" in proc.stdout


def test_train_cli_custom_env_and_unimportable_module(site: Path, tmp_path: Path) -> None:
    cfg = {"env": {"id": ENV_ID, "n_envs": 2}, "agent": {**TINY_AGENT, "norm": "weight"}, "train": TINY_TRAIN}
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = _cli("train", good, "--out", tmp_path / "run", cwd=tmp_path, site=site)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "finished"

    proc = _cli("train", good, cwd=tmp_path, site=None)  # the module is not on the path
    assert proc.returncode == 2, proc.stderr[-3000:]
    expected = f"env.id: {_missing_message(f'{PKG}.envs', ENV_ID, PKG)}"
    assert proc.stderr.endswith(expected + "\n") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.yaml", "run"]  # no runs/ directory

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"name": "s", "base": cfg, "seeds": 1}, sort_keys=False))
    proc = _cli("compare", sweep, "--out", tmp_path / "sweep_out", cwd=tmp_path, site=None)
    assert proc.returncode == 2 and proc.stderr.endswith(expected + "\n"), proc.stderr
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "sweep_out" / "runs").exists()


# --- headless rendering -------------------------------------------------------------------------------

RENDER = textwrap.dedent(
    """
    import os
    from wnrl.envs import make_vec_env
    venv = make_vec_env("CartPole-v1", env_kwargs={"render_mode": "rgb_array"})
    venv.reset()
    frame = venv.render()
    assert frame is not None and frame.shape == (400, 600, 3) and frame.any(), frame
    venv.close()
    import pygame  # already imported by gymnasium's renderer: no greeting either way
    print(os.environ.get("SDL_VIDEODRIVER"), os.environ.get("SDL_AUDIODRIVER"))
    """
)
SDL_VARS = ("XDG_RUNTIME_DIR", "DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "SDL_AUDIODRIVER")


def _render(**extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in SDL_VARS and k != "PYGAME_HIDE_SUPPORT_PROMPT"}
    return subprocess.run(
        [sys.executable, "-c", RENDER], env={**env, **extra}, capture_output=True, text=True, timeout=120
    )


def test_headless_rendering_prints_nothing_from_sdl_or_pygame() -> None:
    """Without a display and without XDG_RUNTIME_DIR, SDL's Wayland probe used to print
    ``error: XDG_RUNTIME_DIR is invalid or not set in the environment.``"""
    pytest.importorskip("pygame")
    proc = _render()
    assert proc.returncode == 0, proc.stderr
    noise = proc.stdout.splitlines()[:-1] + proc.stderr.splitlines()
    assert not any("XDG_RUNTIME_DIR" in line or "SDL" in line or "pygame" in line.lower() for line in noise), noise
    assert proc.stdout.splitlines()[-1] == "dummy dummy"


def test_sdl_settings_of_the_user_and_desktops_are_kept() -> None:
    proc = _render(DISPLAY=":0.0", SDL_AUDIODRIVER="alsa", XDG_RUNTIME_DIR="/nonexistent")
    # no X server at :0.0 here, but rgb_array rendering needs none; SDL's video driver is left alone
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "None alsa"
