// Writes ../tools/*.json: the real chat templates of the shared test data
// rendered with tool definitions, tool calls and tool results by
// @huggingface/jinja (the Jinja engine of transformers.js), as a reference
// made independently of the Go renderer. Before writing anything it renders
// every case of shared/testdata/chat_templates/expected (made with Python's
// jinja2 as transformers sets it up) and stops if any differs, so the
// renderer is checked against transformers first.
//
// Run from this folder: npm ci && node gen.mjs   (AHA_SHARED overrides ../../../../../shared)
//
// The conversations are the ones vLLM hands the template for an OpenAI
// request: tool-call arguments already decoded from their JSON string into
// an object, and a tool-calling assistant turn's null content made "".
// They avoid the values where JavaScript cannot say what Python would:
// floats with a zero fraction (JavaScript prints 1.0 as 1) and object keys
// that look like integers (JavaScript puts them first).

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

const here = dirname(fileURLToPath(import.meta.url));
const shared = process.env.AHA_SHARED ?? join(here, "../../../../../shared");
const testdata = join(shared, "testdata");
const outDir = join(here, "..", "tools");
const version = JSON.parse(readFileSync(join(here, "node_modules/@huggingface/jinja/package.json"), "utf8")).version;

// The library defines transformers' globals (raise_exception, strftime_now)
// itself; strftime_now is never reached, as every case sets date_string.
function render(src, vars) {
  return new Template(src).render(vars);
}

// 1. The oracle must agree with transformers on the cases it was checked with.
const expectedDir = join(testdata, "chat_templates/expected");
const index = JSON.parse(readFileSync(join(expectedDir, "index.json"), "utf8"));
let agreed = 0;
for (const name of index.cases) {
  const c = JSON.parse(readFileSync(join(expectedDir, name), "utf8"));
  const got = render(templateSource(c.template), {
    messages: c.messages,
    add_generation_prompt: c.add_generation_prompt,
    tools: c.tools,
    documents: c.documents,
    ...c.variables,
  });
  if (got !== c.expected) {
    console.error(`${name}: @huggingface/jinja differs from transformers\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(c.expected)}`);
    process.exit(1);
  }
  agreed++;
}
console.log(`@huggingface/jinja ${version} agrees with transformers on ${agreed} of ${index.cases.length} shared cases`);

function templateSource(ref) {
  const [path, fragment] = ref.split("#");
  const text = readFileSync(join(testdata, path), "utf8");
  return fragment ? JSON.parse(text)[fragment] : text;
}

// 2. The tool cases.
const tools = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Get the current weather in a city, in °C or °F.",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", description: "City name, e.g. Zürich" },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
          days: { type: "integer", minimum: 1, maximum: 7 },
        },
        required: ["city"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "calculator",
      description: 'Evaluate an arithmetic expression such as "2 * (3 + 4)".',
      parameters: {
        type: "object",
        properties: { expression: { type: "string" }, precision: { type: "number", default: 0.5 } },
        required: ["expression"],
      },
      strict: true,
    },
  },
];

const system = { role: "system", content: "You are a helpful assistant." };
const user = { role: "user", content: "What is the weather in Zürich?" };
const call = (id, name, args) => ({ id, type: "function", function: { name, arguments: args } });
const weatherCall = call("call_1", "get_weather", { city: "Zürich", unit: "celsius" });
const weatherResult = { role: "tool", tool_call_id: "call_1", content: '{"temperature": 21.5, "condition": "sunny"}' };
const calcCall = call("call_2", "calculator", { expression: "21.5 * 9 / 5 + 32" });
const calcResult = { role: "tool", tool_call_id: "call_2", content: "70.7" };
const answer = "It is 21.5 °C (70.7 °F) and sunny in Zürich.";

// The assistant turn that calls tools, for a template that reasons or not.
function callTurn(reasoning, calls, text = "") {
  const think = reasoning ? "<think>\nThe user wants the weather; I should call get_weather.\n</think>\n\n" : "";
  return { role: "assistant", content: think + text, tool_calls: calls };
}

const templates = [
  { id: "Qwen-Qwen2.5-7B-Instruct", reasoning: false, parallel: true },
  { id: "Qwen-Qwen3-0.6B", reasoning: true, parallel: true },
  { id: "Qwen-QwQ-32B", reasoning: true, parallel: true },
  { id: "meta-llama-Llama-3.1-8B-Instruct", reasoning: false, parallel: false, llama: true },
  { id: "meta-llama-Llama-3.2-3B-Instruct", reasoning: false, parallel: false, llama: true },
  // It ignores tools and writes tool calls only for a null content, which
  // vLLM never passes: the cases show what it renders instead.
  { id: "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", reasoning: true, parallel: false },
];

function cases(t) {
  const list = [
    { name: "tools-user-gen", messages: [user], gen: true },
    { name: "tools-system-user-gen", messages: [system, user], gen: true },
    { name: "tools-multiturn-gen", messages: [system, user, callTurn(t.reasoning, [weatherCall]), weatherResult], gen: true },
    {
      name: "tools-multiturn-end-assistant-nogen",
      messages: [user, callTurn(t.reasoning, [weatherCall]), weatherResult, { role: "assistant", content: answer }],
      gen: false,
    },
  ];
  if (t.parallel) {
    list.push({
      name: "tools-parallel-calls-gen",
      messages: [user, callTurn(t.reasoning, [weatherCall, calcCall], "Let me look that up."), weatherResult, calcResult],
      gen: true,
    });
  } else if (t.llama) {
    // The template allows one call per turn and says so.
    list.push({ name: "tools-parallel-calls-error", messages: [user, callTurn(false, [weatherCall, calcCall]), weatherResult, calcResult], gen: true });
    list.push({ name: "tools-in-system-message-gen", messages: [system, user], gen: true, vars: { tools_in_user_message: false } });
  }
  return list;
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir);
let written = 0;
for (const t of templates) {
  const ref = `chat_templates/${t.id}.jinja`;
  const src = templateSource(ref);
  // The special tokens (and Llama's date_string) of the shared cases.
  const base = JSON.parse(readFileSync(join(expectedDir, `${t.id}--user-gen.json`), "utf8"));
  for (const c of cases(t)) {
    const variables = { ...base.variables, ...c.vars };
    const out = {
      template_id: t.id,
      template: ref,
      template_sha256: createHash("sha256").update(src, "utf8").digest("hex"),
      case: c.name,
      renderer: `@huggingface/jinja ${version}`,
      messages: c.messages,
      add_generation_prompt: c.gen,
      tools,
      documents: null,
      variables,
    };
    try {
      out.expected = render(src, { messages: c.messages, add_generation_prompt: c.gen, tools, documents: null, ...variables });
    } catch (e) {
      out.error = String(e.message);
    }
    writeFileSync(join(outDir, `${t.id}--${c.name}.json`), JSON.stringify(out, null, 1) + "\n");
    written++;
  }
}
console.log(`wrote ${written} cases to ${outDir}`);
