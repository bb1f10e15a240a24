"""One vocabulary: the attribute names written and read come from ``conventions.names``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

import infinium_otel
from fakes.fake_openai import FakeOpenAI
from infinium_otel.conventions import genai, infinium, names, openinference, openllmetry
from infinium_otel.instrumentation.helpers import agent, configure_helpers, step, tool
from infinium_otel.instrumentation.openai import OpenAIInstrumentor

from .conftest import Tracing

ROOT = Path(infinium_otel.__file__).parent
NAMES = {
    value
    for key, value in vars(names).items()
    if key.isupper() and isinstance(value, str) and "." in value
}
PREFIXES = tuple(value for value in NAMES if value.endswith("."))


def string_constants(source: Path) -> Iterator[tuple[int, str]]:
    """Every string literal in ``source`` that is not a docstring."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


@pytest.mark.parametrize("folder", ["instrumentation", "conventions"])
def test_no_attribute_name_is_spelled_outside_the_names_module(folder: str) -> None:
    spelled = []
    for source in sorted((ROOT / folder).glob("*.py")):
        if source.name == "names.py":
            continue
        for line, value in string_constants(source):
            if value in NAMES or (value.startswith(PREFIXES) and value not in PREFIXES):
                spelled.append(f"{source.name}:{line}: {value!r}")
    assert spelled == []


def test_readers_priority_lists_are_built_from_the_names() -> None:
    lists = [
        genai.MODEL,
        genai.PROVIDER,
        genai.INPUT_TOKENS,
        genai.OUTPUT_TOKENS,
        genai.TOOL_ARGUMENTS,
        openinference.MODEL,
        openinference.PROVIDER,
        openllmetry.ENTITY_NAME,
    ]
    for names_read in lists:
        assert set(names_read) <= NAMES
    assert infinium.INPUT_SUMMARY == names.INFINIUM_INPUT_SUMMARY


@pytest.fixture
def traced(tracing: Tracing) -> Iterator[Tracing]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    configure_helpers(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        configure_helpers()
        instrumentor.uninstrument()


def test_every_attribute_we_write_is_a_name_of_the_vocabulary(traced: Tracing) -> None:
    @tool("lookup")
    def lookup(query: str) -> str:
        return query.upper()

    with FakeOpenAI(tool_calls=[("lookup", '{"query": "x"}')]) as fake:
        oai = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        with agent(
            "writer",
            description="writes",
            expected_outcome={"task_objective": "t", "constraints": ["c"]},
            sections={"customer": {"customer_name": "Ada"}},
        ):
            with step("plan"):
                oai.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}], temperature=0.1
                )
            lookup("x")
            stream = oai.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "go"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            next(iter(stream))  # abandoned when the agent ends
    written = {key for span in traced.spans() for key in (span.attributes or {})}
    assert names.INFINIUM_STREAM_ABANDONED in written
    assert names.INFINIUM_TOOL_CALLS in written
    unknown = {key for key in written if key not in NAMES and not key.startswith(PREFIXES)}
    assert unknown == set()
