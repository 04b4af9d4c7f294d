"""DaemonConfig: flags > LTX2D_* environment > defaults, and errors that name option, value and rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ltx2d.config import (
    DEFAULT_BRIDGE_PORT,
    DEFAULT_GRPC_PORT,
    OPTIONS,
    ConfigError,
    DaemonConfig,
    build_parser,
    options_markdown,
)

ROOT = Path(__file__).resolve().parents[2]


def config(argv: list[str] | None = None, env: dict[str, str] | None = None) -> DaemonConfig:
    return DaemonConfig.from_args(argv or [], env or {})


def test_defaults_without_flags_or_environment() -> None:
    c = config(env={"HOME": "/home/someone"})
    assert c.host == "127.0.0.1"
    assert c.grpc_port == DEFAULT_GRPC_PORT
    assert c.bridge_port == DEFAULT_BRIDGE_PORT
    assert c.metrics_port is None
    assert c.token is None
    assert c.model is None  # the embedded tiny checkpoint
    assert c.bridge_max_frame == 16 * 1024 * 1024  # room for a request's media
    assert c.cache_dir == Path("/home/someone/.cache/ltx2d/results")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("grpc_port", "6000", 6000),
        ("keep_alive", "2.5", 2.5),
        ("log_format", "json", "json"),
        ("offload", "true", True),
        ("queue_capacity", "3", 3),
        ("cache_max_bytes", "512M", 512 * 1024 * 1024),
        ("dtype", "bfloat16", "bf16"),
        ("default_steps", "4", 4),
    ],
)
def test_environment_overrides_default_and_flag_overrides_environment(name: str, text: str, expected: object) -> None:
    option = next(o for o in OPTIONS if o.name == name)
    assert getattr(config(), name) == option.default != expected
    assert getattr(config(env={option.env: text}), name) == expected
    if option.flag_kind == "bool":
        flag_args = [f"--no-{option.flag[2:]}"] if expected else [option.flag]
        flag_value = not expected
    else:
        flag_args = [option.flag, str(option.default)]
        flag_value = option.default
    assert getattr(config(flag_args, {option.env: text}), name) == flag_value


def test_bridge_can_be_disabled_three_ways() -> None:
    assert config(["--no-bridge"]).bridge_port is None
    assert config(["--bridge-port", "-1"]).bridge_port is None
    assert config(env={"LTX2D_BRIDGE_PORT": "off"}).bridge_port is None
    assert config(env={"LTX2D_BRIDGE_PORT": "0"}).bridge_port == 0


def test_the_process_environment_is_never_read_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LTX2D_GRPC_PORT", "1234")
    assert config().grpc_port == DEFAULT_GRPC_PORT


@pytest.mark.parametrize(
    ("argv", "env", "option", "value", "rule"),
    [
        ([], {"LTX2D_GRPC_PORT": "abc"}, "LTX2D_GRPC_PORT", "abc", "must be an integer"),
        (["--grpc-port", "70000"], {}, "--grpc-port", "70000", "between 0 and 65535"),
        (["--queue-capacity", "0"], {}, "--queue-capacity", "0", ">= 1"),
        (["--keep-alive", "-1"], {}, "--keep-alive", "-1", ">= 0"),
        (["--keep-alive", "nan"], {}, "--keep-alive", "nan", "finite"),
        (["--log-format", "xml"], {}, "--log-format", "xml", "text, json"),
        (["--dtype", "int3"], {}, "--dtype", "int3", "auto, bf16, fp16, fp32"),
        (["--quantization", "int4"], {}, "--quantization", "int4", "none, int8, nf4, fp8"),
        ([], {"LTX2D_OFFLOAD": "maybe"}, "LTX2D_OFFLOAD", "maybe", "1/true/yes/on"),
        (["--cache-max-bytes", "lots"], {}, "--cache-max-bytes", "lots", "size in bytes"),
        (["--default-width", "65"], {}, "--default-width", "65", "multiple of 32"),
        (
            ["--default-width", "2048", "--max-width", "1920"],
            {},
            "--default-width",
            "2048",
            "between 64 and 1920",
        ),
        (["--default-num-frames", "10"], {}, "--default-num-frames", "10", "8k+1"),
        (["--grpc-port", "7000", "--bridge-port", "7000"], {}, "--grpc-port", "7000", "ports must differ"),
    ],
)
def test_bad_values_name_option_value_and_rule(
    argv: list[str], env: dict[str, str], option: str, value: str, rule: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config(argv, env)
    message = str(info.value)
    assert message.startswith(option)
    assert value in message
    assert rule in message


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.7", "::", "example.org"])
def test_non_loopback_host_requires_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match="requires a token") as info:
        config(["--host", host])
    assert host in str(info.value)
    assert config(["--host", host, "--token", "s3cret"]).token == "s3cret"
    assert config(["--host", host], {"LTX2D_TOKEN": "s3cret"}).token == "s3cret"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_hosts_need_no_token(host: str) -> None:
    assert config(["--host", host]).loopback


def test_token_is_kept_out_of_the_repr() -> None:
    assert "s3cret" not in repr(config(["--token", "s3cret"]))


def test_limits_and_defaults_come_from_the_config() -> None:
    c = config(["--max-width", "512", "--default-width", "256", "--default-steps", "3"])
    assert c.limits.max_width == 512
    assert c.defaults.width == 256
    assert c.defaults.steps == 3


def test_help_documents_every_option_and_its_variable() -> None:
    text = build_parser().format_help()
    for option in OPTIONS:
        assert option.flag in text
        assert option.env in text
    assert "--no-bridge" in text


def test_docs_table_is_up_to_date() -> None:
    doc = (ROOT / "docs" / "daemon.md").read_text()
    assert options_markdown() in doc, "regenerate the table in docs/daemon.md from ltx2d.config.options_markdown()"


def test_non_loopback_without_token_is_refused_at_startup_without_binding() -> None:
    # The config is checked before anything binds; the process exits with status 2.
    result = subprocess.run(
        [sys.executable, "-m", "ltx2d", "--host", "0.0.0.0", "--grpc-port", "0", "--no-bridge"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--host='0.0.0.0'" in result.stderr
    assert "requires a token" in result.stderr
    assert "serving" not in result.stderr


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_format_option_gives_json_lines_or_text(fmt: str) -> None:
    import io
    import json
    import logging

    from ltx2d import logs

    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("ltx2d").level)
    try:
        logs.configure("info", config(["--log-format", fmt]).log_format, stream)
        log = logging.getLogger("ltx2d.test")
        log.info("job finished job_id=%s", "j1", extra={"event": "job_finished", "job_id": "j1", "total_s": 1.5})
        log.debug("hidden at info level")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("ltx2d").setLevel(saved[2])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    if fmt == "json":
        record = json.loads(lines[0])
        assert record["msg"] == "job finished job_id=j1" and record["level"] == "info"
        assert (record["event"], record["job_id"], record["total_s"]) == ("job_finished", "j1", 1.5)
        assert record["logger"] == "ltx2d.test" and record["ts"].endswith("Z")
    else:
        assert lines[0].endswith("ltx2d.test job finished job_id=j1 total_s=1.5")


def test_models_are_named_paths_from_repeated_flags_or_one_variable() -> None:
    from ltx2d.config import ModelSpec

    flags = config(["--model", "dev=~/ckpt/ltx-2.3", "--model", "fast=/m/ltx-2.3-distilled"], {"HOME": "/h"})
    assert flags.models == (ModelSpec("dev", Path("/h/ckpt/ltx-2.3")), ModelSpec("fast", Path("/m/ltx-2.3-distilled")))
    assert flags.model == Path("/h/ckpt/ltx-2.3")  # the first is the default
    env = config(env={"LTX2D_MODEL": "dev=/a;fast=/b"})
    assert [spec.name for spec in env.models] == ["dev", "fast"]
    bare = config(["--model", "/models/ltx=2"])  # no NAME=: the = is part of the path
    assert bare.models == (ModelSpec("default", Path("/models/ltx=2")),)
    assert config(env={"LTX2D_MODEL": "/x"}, argv=["--model", "/y"]).model == Path("/y")  # the flag wins


@pytest.mark.parametrize(
    ("argv", "rule"),
    [
        (["--model", "a=/x", "--model", "a=/y"], "names must differ"),
        (["--model", "/x", "--model", "/y"], "names must differ"),
        (["--model", "bad name=/x"], "letters, digits"),
        (["--model", "a="], "folder is missing"),
    ],
)
def test_bad_models_name_the_flag_and_the_rule(argv: list[str], rule: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(argv)
    assert caught.value.option == "--model" and rule in caught.value.rule
