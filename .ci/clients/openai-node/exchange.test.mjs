// A scripted exchange between the official OpenAI Node SDK and a running
// `aha serve`, asserting what OpenAI's API reference promises about each
// response: field types and values, and that the parts agree with each other
// (tokens spell the text, usage counts the tokens, a stream carries the same
// completion as the plain response, …).
//
// It starts nothing: AHA_BASE_URL names the server's API root, e.g.
// http://127.0.0.1:8000/v1 (./run builds aha, serves the embedded
// stories260K and sets it). The prompts are chosen for stories260K, whose
// greedy continuations are long stories, but the assertions hold for any
// model that does not stop within a few tokens.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.AHA_BASE_URL;
if (!baseURL) {
  throw new Error('set AHA_BASE_URL to a running aha serve, e.g. http://127.0.0.1:8000/v1 (or use ./run)');
}
// AHA_API_KEY is the key the server was started with (--api-key), if any.
const apiKey = process.env.AHA_API_KEY;
const client = new OpenAI({ baseURL, apiKey: apiKey ?? 'unused', maxRetries: 0, timeout: 60_000 });

const PROMPT = 'Once upon a time,';
// Echoed prompts come back token by token; é is one token of stories260K's
// vocabulary, one character but two bytes.
const ECHO_PROMPT = 'Once upon a time, in a café';
const MESSAGES = [{ role: 'user', content: 'Tell me a story about a cat.' }];

let model; // the served model's id

before(async () => {
  // A server that was just started may still be loading.
  const health = new URL('/health', baseURL);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(health)).ok) break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`${health} is not healthy`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const page = await client.models.list();
  model = page.data[0].id;
});

// --- helpers ---

// chars counts characters (code points), as OpenAI's text offsets do.
const chars = (s) => [...s].length;

const utf8 = (s) => [...Buffer.from(s, 'utf8')];

function isInt(v, min = 0) {
  return Number.isInteger(v) && v >= min;
}

function checkCreated(created) {
  assert.ok(Number.isInteger(created), `created ${created} is not an integer`);
  assert.ok(Math.abs(Date.now() / 1000 - created) < 600, `created ${created} is not a Unix time in seconds near now`);
}

function checkUsage(usage) {
  assert.ok(usage, 'usage is missing');
  assert.ok(isInt(usage.prompt_tokens, 1), `prompt_tokens ${usage.prompt_tokens}`);
  assert.ok(isInt(usage.completion_tokens), `completion_tokens ${usage.completion_tokens}`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, 'total_tokens = prompt_tokens + completion_tokens');
}

function checkLogprob(lp) {
  assert.equal(typeof lp, 'number');
  assert.ok(Number.isFinite(lp) && lp <= 0, `logprob ${lp} is not ≤ 0`);
}

// checkLegacyLogprobs checks a completions logprobs object holding top
// alternatives for `top` (the request's logprobs). firstIsNull: the first
// token is the echoed prompt's first, which has no logprob.
function checkLegacyLogprobs(lp, top, { firstIsNull = false } = {}) {
  assert.ok(lp, 'logprobs is missing');
  const n = lp.tokens.length;
  assert.ok(n > 0, 'no tokens');
  assert.equal(lp.token_logprobs.length, n, 'token_logprobs has one entry per token');
  assert.equal(lp.top_logprobs.length, n, 'top_logprobs has one entry per token');
  assert.equal(lp.text_offset.length, n, 'text_offset has one entry per token');
  for (let i = 0; i < n; i++) {
    assert.equal(typeof lp.tokens[i], 'string');
    assert.ok(isInt(lp.text_offset[i]), `text_offset[${i}] = ${lp.text_offset[i]}`);
    if (i > 0) {
      assert.equal(lp.text_offset[i] - lp.text_offset[i - 1], chars(lp.tokens[i - 1]),
        `text_offset[${i}] - text_offset[${i - 1}] should be the length in characters of token ${JSON.stringify(lp.tokens[i - 1])} (offsets ${JSON.stringify(lp.text_offset)})`);
    }
    if (firstIsNull && i === 0) {
      assert.equal(lp.token_logprobs[0], null, 'the first prompt token has no logprob');
      assert.equal(lp.top_logprobs[0], null, 'the first prompt token has no top_logprobs');
      continue;
    }
    checkLogprob(lp.token_logprobs[i]);
    const alts = lp.top_logprobs[i];
    assert.equal(typeof alts, 'object');
    assert.ok(alts !== null);
    const keys = Object.keys(alts);
    // The chosen token is always among them (as vLLM does), so there may be
    // one more than asked for.
    assert.ok(keys.length >= Math.min(top, 1) && keys.length <= top + 1, `top_logprobs[${i}] has ${keys.length} entries for logprobs = ${top}`);
    assert.equal(alts[lp.tokens[i]], lp.token_logprobs[i], `top_logprobs[${i}] holds the chosen token with its logprob`);
    for (const v of Object.values(alts)) checkLogprob(v);
  }
}

// expectError runs fn, which must fail with the SDK error class cls.
async function expectError(fn, cls, { status, param, code } = {}) {
  await assert.rejects(fn, (err) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
    if (status !== undefined) assert.equal(err.status, status);
    if (param !== undefined) assert.equal(err.param, param, `error param (message: ${err.message})`);
    if (code !== undefined) assert.equal(err.code, code);
    assert.equal(typeof err.error?.message, 'string', 'the error object has a message');
    return true;
  });
}

// collectCompletionStream gathers a completions stream per choice index.
async function collectCompletionStream(stream) {
  const choices = new Map();
  const ids = new Set();
  let usage = null;
  let afterUsage = false;
  for await (const chunk of stream) {
    assert.equal(afterUsage, false, 'the usage chunk is the last');
    assert.equal(chunk.object, 'text_completion');
    assert.equal(chunk.model, model);
    checkCreated(chunk.created);
    ids.add(chunk.id);
    if (chunk.usage) {
      assert.deepEqual(chunk.choices, [], 'the usage chunk has no choices');
      usage = chunk.usage;
      afterUsage = true;
      continue;
    }
    for (const c of chunk.choices) {
      assert.ok(isInt(c.index), `index ${c.index}`);
      let got = choices.get(c.index);
      if (!got) {
        got = { text: '', finish: null, logprobs: null };
        choices.set(c.index, got);
      }
      assert.equal(got.finish, null, `choice ${c.index} has a chunk after its finish_reason`);
      assert.equal(typeof c.text, 'string');
      got.text += c.text;
      got.finish = c.finish_reason ?? null;
      if (c.logprobs) {
        got.logprobs ??= { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
        for (const k of Object.keys(got.logprobs)) got.logprobs[k].push(...c.logprobs[k]);
      }
    }
  }
  assert.equal(ids.size, 1, 'every chunk has the same id');
  return { choices, usage };
}

// collectChatStream gathers a chat stream per choice index.
async function collectChatStream(stream) {
  const choices = new Map();
  const ids = new Set();
  let usage = null;
  let afterUsage = false;
  for await (const chunk of stream) {
    assert.equal(afterUsage, false, 'the usage chunk is the last');
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, model);
    checkCreated(chunk.created);
    ids.add(chunk.id);
    if (chunk.usage) {
      assert.deepEqual(chunk.choices, [], 'the usage chunk has no choices');
      usage = chunk.usage;
      afterUsage = true;
      continue;
    }
    for (const c of chunk.choices) {
      assert.ok(isInt(c.index), `index ${c.index}`);
      let got = choices.get(c.index);
      if (!got) {
        assert.equal(c.delta.role, 'assistant', `choice ${c.index}'s first delta names the role`);
        got = { content: '', finish: null, logprobs: null };
        choices.set(c.index, got);
      } else {
        assert.equal(c.delta.role ?? undefined, undefined, 'only the first delta names the role');
      }
      assert.equal(got.finish, null, `choice ${c.index} has a chunk after its finish_reason`);
      if (c.delta.content != null) {
        assert.equal(typeof c.delta.content, 'string');
        got.content += c.delta.content;
      }
      got.finish = c.finish_reason ?? null;
      if (c.logprobs) {
        got.logprobs ??= [];
        got.logprobs.push(...c.logprobs.content);
      }
    }
  }
  assert.equal(ids.size, 1, 'every chunk has the same id');
  return { choices, usage };
}

function checkChatLogprobs(content, top) {
  assert.ok(Array.isArray(content), 'logprobs.content is a list');
  for (const [i, e] of content.entries()) {
    assert.equal(typeof e.token, 'string');
    checkLogprob(e.logprob);
    assert.deepEqual(e.bytes, utf8(e.token), `content[${i}].bytes are the UTF-8 bytes of ${JSON.stringify(e.token)}`);
    assert.ok('top_logprobs' in e, `content[${i}] has no top_logprobs key (it must be [] when top_logprobs is not asked for)`);
    assert.ok(Array.isArray(e.top_logprobs), `content[${i}].top_logprobs is a list`);
    assert.equal(e.top_logprobs.length, top, `content[${i}].top_logprobs has top_logprobs = ${top} entries`);
    for (const [j, t] of e.top_logprobs.entries()) {
      assert.equal(typeof t.token, 'string');
      checkLogprob(t.logprob);
      assert.deepEqual(t.bytes, utf8(t.token));
      if (j > 0) assert.ok(t.logprob <= e.top_logprobs[j - 1].logprob, 'top_logprobs are most likely first');
    }
  }
}

// --- models ---

describe('models', () => {
  it('lists the served model', async () => {
    const page = await client.models.list();
    assert.equal(page.data.length, 1, 'aha serves one model');
    const m = page.data[0];
    assert.equal(typeof m.id, 'string');
    assert.ok(m.id.length > 0);
    assert.equal(m.object, 'model');
    checkCreated(m.created);
    assert.equal(typeof m.owned_by, 'string');
    const all = [];
    for await (const x of client.models.list()) all.push(x.id);
    assert.deepEqual(all, [m.id], 'iterating the list gives the same model');
  });

  it('retrieves the served model', async () => {
    const m = await client.models.retrieve(model);
    assert.equal(m.id, model);
    assert.equal(m.object, 'model');
    checkCreated(m.created);
    assert.equal(typeof m.owned_by, 'string');
  });

  it('answers NotFoundError for a model it does not serve', async () => {
    await expectError(() => client.models.retrieve('no-such-model'), OpenAI.NotFoundError, { status: 404 });
  });
});

// --- completions ---

describe('completions', () => {
  it('completes a prompt: its tokens spell the text, usage counts them', async () => {
    const r = await client.completions.create({ model, prompt: PROMPT, max_tokens: 8, temperature: 0, logprobs: 0 });
    assert.equal(typeof r.id, 'string');
    assert.ok(r.id.length > 0);
    assert.equal(r.object, 'text_completion');
    assert.equal(r.model, model);
    checkCreated(r.created);
    assert.equal(r.choices.length, 1);
    const c = r.choices[0];
    assert.equal(c.index, 0);
    assert.equal(c.finish_reason, 'length');
    checkUsage(r.usage);
    assert.equal(r.usage.completion_tokens, 8);
    checkLegacyLogprobs(c.logprobs, 0);
    assert.equal(c.logprobs.tokens.length, 8);
    assert.equal(c.text, c.logprobs.tokens.join(''), 'the tokens spell the text');
    assert.equal(c.logprobs.text_offset[0], 0, 'the first token is at the start of the text');
  });

  it('answers logprobs null when none are asked for', async () => {
    const r = await client.completions.create({ model, prompt: PROMPT, max_tokens: 4, temperature: 0 });
    assert.equal(r.choices[0].logprobs, null);
    assert.equal(typeof r.choices[0].text, 'string');
  });

  it('logprobs: each position holds the chosen token among the top alternatives; greedy picks the most likely', async () => {
    const r = await client.completions.create({ model, prompt: PROMPT, max_tokens: 8, temperature: 0, logprobs: 3 });
    const lp = r.choices[0].logprobs;
    checkLegacyLogprobs(lp, 3);
    for (let i = 0; i < lp.tokens.length; i++) {
      const alts = lp.top_logprobs[i];
      assert.ok(Object.keys(alts).length >= 3, `top_logprobs[${i}] has at least 3 entries`);
      assert.equal(lp.token_logprobs[i], Math.max(...Object.values(alts)), `greedy token ${i} is the most likely`);
    }
    assert.equal(r.choices[0].text, lp.tokens.join(''), 'the tokens spell the text');
  });

  it('echo: the text is the prompt, then the completion; text_offset counts characters', async () => {
    const plain = await client.completions.create({ model, prompt: ECHO_PROMPT, max_tokens: 6, temperature: 0 });
    const r = await client.completions.create({ model, prompt: ECHO_PROMPT, max_tokens: 6, temperature: 0, echo: true, logprobs: 1 });
    const c = r.choices[0];
    assert.equal(c.text, ECHO_PROMPT + plain.choices[0].text);
    checkUsage(r.usage);
    assert.equal(r.usage.prompt_tokens, plain.usage.prompt_tokens);
    assert.equal(c.logprobs.tokens.length, r.usage.prompt_tokens + r.usage.completion_tokens, 'logprobs cover the prompt and the completion');
    checkLegacyLogprobs(c.logprobs, 1, { firstIsNull: true });
  });

  it('n > 1: n choices with distinct indexes; usage counts every token', async () => {
    const r = await client.completions.create({ model, prompt: PROMPT, max_tokens: 6, temperature: 1, seed: 7, n: 3, logprobs: 0 });
    assert.deepEqual(r.choices.map((c) => c.index).sort(), [0, 1, 2]);
    let tokens = 0;
    for (const c of r.choices) {
      assert.ok(['length', 'stop'].includes(c.finish_reason), `finish_reason ${c.finish_reason}`);
      checkLegacyLogprobs(c.logprobs, 0);
      tokens += c.logprobs.tokens.length;
    }
    checkUsage(r.usage);
    assert.equal(r.usage.completion_tokens, tokens);
  });

  it('several prompts with n: choices are prompt-major', async () => {
    const prompts = ['Once upon a time', 'The cat sat'];
    const r = await client.completions.create({ model, prompt: prompts, max_tokens: 4, temperature: 1, seed: 3, n: 2, echo: true });
    assert.equal(r.choices.length, 4);
    const byIndex = [...r.choices].sort((a, b) => a.index - b.index);
    assert.deepEqual(byIndex.map((c) => c.index), [0, 1, 2, 3]);
    for (const c of byIndex) {
      const p = prompts[Math.floor(c.index / 2)];
      assert.ok(c.text.startsWith(p), `choice ${c.index} continues ${JSON.stringify(p)}: ${JSON.stringify(c.text)}`);
    }
  });

  it('stop: the text ends before the stop string, finish_reason "stop"', async () => {
    const full = (await client.completions.create({ model, prompt: PROMPT, max_tokens: 24, temperature: 0 })).choices[0].text;
    const k = Math.floor(full.length / 2);
    const stop = full.slice(k, k + 4);
    const expected = full.slice(0, full.indexOf(stop));
    const r = await client.completions.create({ model, prompt: PROMPT, max_tokens: 24, temperature: 0, stop: [stop, 'never in a story 12345'] });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'stop');
    assert.ok(!c.text.includes(stop), `${JSON.stringify(c.text)} holds the stop string ${JSON.stringify(stop)}`);
    assert.equal(c.text, expected);
    assert.ok(r.usage.completion_tokens < 24);
  });

  it('stream: the chunks carry the same completion, logprobs and usage', async () => {
    const req = { model, prompt: PROMPT, max_tokens: 8, temperature: 0, logprobs: 2 };
    const plain = await client.completions.create(req);
    const { choices, usage } = await collectCompletionStream(
      await client.completions.create({ ...req, stream: true, stream_options: { include_usage: true } }));
    assert.deepEqual([...choices.keys()], [0]);
    const got = choices.get(0);
    const want = plain.choices[0];
    assert.equal(got.text, want.text);
    assert.equal(got.finish, 'length', 'the last chunk has the finish_reason');
    assert.deepEqual(usage, plain.usage);
    assert.deepEqual(got.logprobs.tokens, want.logprobs.tokens);
    assert.deepEqual(got.logprobs.token_logprobs, want.logprobs.token_logprobs);
    assert.deepEqual(got.logprobs.top_logprobs, want.logprobs.top_logprobs);
    checkLegacyLogprobs(got.logprobs, 2);
    assert.deepEqual(got.logprobs.text_offset, want.logprobs.text_offset, 'streamed text_offsets are offsets into the whole text');
  });

  it('stream with n = 2 and a seed: each choice is the one a plain request gets', async () => {
    const req = { model, prompt: PROMPT, max_tokens: 6, temperature: 1, seed: 11, n: 2 };
    const plain = await client.completions.create(req);
    const { choices, usage } = await collectCompletionStream(await client.completions.create({ ...req, stream: true }));
    assert.equal(usage, null, 'no usage chunk unless asked for');
    assert.deepEqual([...choices.keys()].sort(), [0, 1]);
    for (const c of plain.choices) {
      assert.equal(choices.get(c.index).text, c.text);
      assert.equal(choices.get(c.index).finish, c.finish_reason);
    }
  });

  it('stream with stop: finish_reason "stop" and no stop string', async () => {
    const full = (await client.completions.create({ model, prompt: PROMPT, max_tokens: 24, temperature: 0 })).choices[0].text;
    const stop = full.slice(Math.floor(full.length / 2)).split(' ').find((w) => w.length >= 3);
    assert.ok(stop, `no word to stop at in ${JSON.stringify(full)}`);
    const { choices } = await collectCompletionStream(
      await client.completions.create({ model, prompt: PROMPT, max_tokens: 24, temperature: 0, stop, stream: true }));
    const got = choices.get(0);
    assert.equal(got.finish, 'stop');
    assert.equal(got.text, full.slice(0, full.indexOf(stop)));
  });
});

// --- chat completions ---

describe('chat completions', () => {
  it('answers a conversation as the assistant; usage counts the tokens', async () => {
    const r = await client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 8, temperature: 0 });
    assert.equal(typeof r.id, 'string');
    assert.ok(r.id.length > 0);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, model);
    checkCreated(r.created);
    assert.equal(r.choices.length, 1);
    const c = r.choices[0];
    assert.equal(c.index, 0);
    assert.equal(c.message.role, 'assistant');
    assert.equal(typeof c.message.content, 'string');
    assert.equal(c.finish_reason, 'length');
    assert.equal(c.logprobs ?? null, null, 'no logprobs unless asked for');
    checkUsage(r.usage);
    assert.equal(r.usage.completion_tokens, 8);
  });

  it('max_tokens (deprecated) limits like max_completion_tokens', async () => {
    const a = await client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 5, temperature: 0 });
    const b = await client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 5, temperature: 0 });
    assert.equal(a.usage.completion_tokens, 5);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  });

  it('logprobs without top_logprobs: one entry per token, top_logprobs []', async () => {
    const r = await client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 8, temperature: 0, logprobs: true });
    const content = r.choices[0].logprobs?.content;
    checkChatLogprobs(content, 0);
    assert.equal(content.length, r.usage.completion_tokens);
    assert.equal(r.choices[0].message.content, content.map((e) => e.token).join(''), 'the tokens spell the content');
  });

  it('logprobs with top_logprobs = 3: three alternatives, the greedy token the most likely', async () => {
    const r = await client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0].logprobs?.content;
    checkChatLogprobs(content, 3);
    assert.equal(content.length, r.usage.completion_tokens);
    for (const e of content) assert.equal(e.logprob, e.top_logprobs[0].logprob, `greedy token ${JSON.stringify(e.token)} is the most likely`);
    assert.equal(r.choices[0].message.content, content.map((e) => e.token).join(''), 'the tokens spell the content');
  });

  it('stream: the deltas carry the same message, logprobs and usage', async () => {
    const req = { model, messages: MESSAGES, max_completion_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2 };
    const plain = await client.chat.completions.create(req);
    const { choices, usage } = await collectChatStream(
      await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } }));
    assert.deepEqual([...choices.keys()], [0]);
    const got = choices.get(0);
    assert.equal(got.content, plain.choices[0].message.content);
    assert.equal(got.finish, 'length');
    assert.deepEqual(usage, plain.usage);
    checkChatLogprobs(got.logprobs, 2);
    assert.deepEqual(got.logprobs, plain.choices[0].logprobs.content);
  });

  it('stream with logprobs but no top_logprobs: top_logprobs []', async () => {
    const { choices } = await collectChatStream(await client.chat.completions.create(
      { model, messages: MESSAGES, max_completion_tokens: 4, temperature: 0, logprobs: true, stream: true }));
    const got = choices.get(0);
    assert.equal(got.logprobs.length, 4);
    checkChatLogprobs(got.logprobs, 0);
  });

  it('n = 2: two choices with distinct indexes; usage counts every token', async () => {
    const r = await client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 6, temperature: 1, seed: 5, n: 2, logprobs: true });
    assert.deepEqual(r.choices.map((c) => c.index).sort(), [0, 1]);
    let tokens = 0;
    for (const c of r.choices) {
      assert.equal(c.message.role, 'assistant');
      tokens += c.logprobs.content.length;
    }
    assert.equal(r.usage.completion_tokens, tokens);
  });

  it('stream with n = 2: every choice opens with the role and finishes once', async () => {
    const req = { model, messages: MESSAGES, max_completion_tokens: 6, temperature: 1, seed: 5, n: 2 };
    const plain = await client.chat.completions.create(req);
    const { choices } = await collectChatStream(await client.chat.completions.create({ ...req, stream: true }));
    assert.deepEqual([...choices.keys()].sort(), [0, 1]);
    for (const c of plain.choices) {
      assert.equal(choices.get(c.index).content, c.message.content);
      assert.equal(choices.get(c.index).finish, c.finish_reason);
    }
  });

  it('stop: the content ends before the stop string, finish_reason "stop"', async () => {
    const full = (await client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 24, temperature: 0 })).choices[0].message.content;
    const k = Math.floor(full.length / 2);
    const stop = full.slice(k, k + 4);
    const r = await client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 24, temperature: 0, stop });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'stop');
    assert.ok(!c.message.content.includes(stop));
    assert.equal(c.message.content, full.slice(0, full.indexOf(stop)));
  });
});

// --- errors ---

describe('errors', () => {
  const bad = (param) => ({ status: 400, param });

  it('a wrong API key is an AuthenticationError (when the server has one)', { skip: !apiKey && 'the server runs without --api-key' }, async () => {
    const stranger = new OpenAI({ baseURL, apiKey: apiKey + 'x', maxRetries: 0 });
    await expectError(() => stranger.models.list(), OpenAI.AuthenticationError, { status: 401 });
  });

  it('completions: max_tokens = 0 is a BadRequestError naming max_tokens', async () => {
    await expectError(() => client.completions.create({ model, prompt: PROMPT, max_tokens: 0 }), OpenAI.BadRequestError, bad('max_tokens'));
  });

  it('completions: logprobs out of range is a BadRequestError naming logprobs', async () => {
    await expectError(() => client.completions.create({ model, prompt: PROMPT, max_tokens: 2, logprobs: 1000 }), OpenAI.BadRequestError, bad('logprobs'));
  });

  it('completions: n = 0 is a BadRequestError naming n', async () => {
    await expectError(() => client.completions.create({ model, prompt: PROMPT, max_tokens: 2, n: 0 }), OpenAI.BadRequestError, bad('n'));
  });

  it('completions: a negative temperature is a BadRequestError naming temperature', async () => {
    await expectError(() => client.completions.create({ model, prompt: PROMPT, max_tokens: 2, temperature: -1 }), OpenAI.BadRequestError, bad('temperature'));
  });

  it('completions: an unknown model is a NotFoundError', async () => {
    await expectError(() => client.completions.create({ model: 'no-such-model', prompt: PROMPT, max_tokens: 2 }), OpenAI.NotFoundError,
      { status: 404, code: 'model_not_found' });
  });

  it('chat: max_completion_tokens = 0 is a BadRequestError naming max_completion_tokens', async () => {
    await expectError(() => client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 0 }), OpenAI.BadRequestError,
      bad('max_completion_tokens'));
  });

  it('chat: top_logprobs without logprobs is a BadRequestError naming top_logprobs', async () => {
    await expectError(() => client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 2, top_logprobs: 3 }),
      OpenAI.BadRequestError, bad('top_logprobs'));
  });

  it('chat: no messages is a BadRequestError naming messages', async () => {
    await expectError(() => client.chat.completions.create({ model, messages: [], max_completion_tokens: 2 }), OpenAI.BadRequestError, bad('messages'));
  });

  it('a streamed request with bad input fails before the stream starts', async () => {
    await expectError(() => client.chat.completions.create({ model, messages: MESSAGES, max_completion_tokens: 2, temperature: -1, stream: true }),
      OpenAI.BadRequestError, bad('temperature'));
  });
});
