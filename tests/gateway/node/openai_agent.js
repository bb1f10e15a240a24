// An agent run whose model calls are traced by a real GenAI instrumentation from npm:
// OpenInference's OpenAI instrumentation around the official `openai` client, exported
// with the OpenTelemetry JS SDK's OTLP/HTTP protobuf exporter.
// Usage: node openai_agent.js <traces url> <OpenAI-compatible base url>
// Prints the trace id on success.
const { trace, context } = require("@opentelemetry/api");
const { AsyncLocalStorageContextManager } = require("@opentelemetry/context-async-hooks");
const { BasicTracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-proto");
const { defaultResource, resourceFromAttributes } = require("@opentelemetry/resources");
const { OpenAIInstrumentation } = require("@arizeai/openinference-instrumentation-openai");
const OpenAI = require("openai");

async function main() {
  const [tracesUrl, baseURL] = process.argv.slice(2);
  // The active span must follow the awaits, so the model call's span is the agent's child.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new BasicTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ "service.name": "node-openai-agent" })),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: tracesUrl }))],
  });
  const instrumentation = new OpenAIInstrumentation();
  instrumentation.setTracerProvider(provider);
  instrumentation.manuallyInstrument(OpenAI.OpenAI || OpenAI);

  const client = new (OpenAI.OpenAI || OpenAI)({ baseURL, apiKey: "test-key", maxRetries: 0 });
  const tracer = provider.getTracer("tests.gateway.node.agent");
  const question = "What is the capital of France?";
  // The agent span is the application's own (the instrumentation traces model calls only).
  const root = tracer.startSpan("capital-agent", {
    attributes: {
      "openinference.span.kind": "AGENT",
      "agent.name": "capital-agent",
      "input.value": question,
      "input.mime_type": "text/plain",
    },
  });
  const answer = await context.with(trace.setSpan(context.active(), root), async () => {
    // A tool the agent runs before asking the model (traced by hand, OpenInference's TOOL kind).
    const tool = tracer.startSpan("lookup_country", {
      attributes: {
        "openinference.span.kind": "TOOL",
        "tool.name": "lookup_country",
        "input.value": JSON.stringify({ country: "France" }),
        "output.value": "France: capital Paris",
      },
    });
    tool.end();
    return client.chat.completions.create({
      model: "gpt-node-test",
      messages: [
        { role: "system", content: "Answer briefly." },
        { role: "user", content: question },
      ],
    });
  });
  const text = answer.choices[0].message.content;
  root.setAttribute("output.value", text);
  root.setAttribute("output.mime_type", "text/plain");
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  console.log(root.spanContext().traceId);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
