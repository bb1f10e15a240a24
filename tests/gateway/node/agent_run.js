// An agent run made with the OpenTelemetry JS SDK and sent with its OTLP/HTTP exporter.
// Usage: node agent_run.js <traces url>
const { trace, context } = require("@opentelemetry/api");
const { BasicTracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http");
const {
  defaultResource,
  detectResources,
  processDetector,
  resourceFromAttributes,
} = require("@opentelemetry/resources");

async function main() {
  const provider = new BasicTracerProvider({
    // What the Node SDK gives by default: the SDK's language and the process's runtime.
    resource: defaultResource()
      .merge(detectResources({ detectors: [processDetector] }))
      .merge(resourceFromAttributes({ "service.name": "node-agent" })),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: process.argv[2] }))],
  });
  const tracer = provider.getTracer("tests.gateway.node");
  const root = tracer.startSpan("invoke_agent researcher", {
    attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher" },
  });
  const inside = trace.setSpan(context.active(), root);
  const chat = tracer.startSpan(
    "chat gpt-node",
    {
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-node",
        "gen_ai.response.model": "gpt-node",
        "gen_ai.usage.input_tokens": 21,
        "gen_ai.usage.output_tokens": 8,
        "gen_ai.response.finish_reasons": ["stop"],
      },
    },
    inside,
  );
  chat.end();
  const tool = tracer.startSpan(
    "execute_tool fetch_page",
    { attributes: { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch_page" } },
    inside,
  );
  tool.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  console.log(root.spanContext().traceId);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
