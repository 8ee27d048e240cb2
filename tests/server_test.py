#!/usr/bin/env python3
"""server_test.py — end-to-end tests of `latte serve` with the official openai client and raw HTTP.
Started by tests/cli_server.sh with three servers on the tiny model (env: LATTE_BIN, MODEL, URL main,
URL_SMALL a server whose KV pool holds few pages, URL_KEY a server with --api-key, API_KEY,
FIRST_HEALTH the first /health status seen while the main server loaded). Checks responses against
`latte generate` (greedy, same tokens), streaming against non-streaming, stop strings, limits,
seeds, logprobs, n, concurrency, preemption, the prefix cache, disconnects and error objects.
Prints "N passed, N failed"; exits 1 on any failure."""
import faulthandler, http.client, json, os, re, socket, subprocess, sys, threading, time, traceback, urllib.parse
from openai import OpenAI
import openai

BIN, MODEL = os.environ["LATTE_BIN"], os.environ["MODEL"]
URL, URL_SMALL, URL_KEY, KEY = os.environ["URL"], os.environ["URL_SMALL"], os.environ["URL_KEY"], os.environ["API_KEY"]
NAME = "tiny"
client = OpenAI(base_url=URL + "/v1", api_key="none", max_retries=0, timeout=120)
passed, failed, TESTS = 0, 0, []

def test(fn):
    TESTS.append(fn)
    return fn

def check(cond, what):
    if not cond:
        raise AssertionError(what)

def raw(url, method, path, body=None, headers=None):
    """(status, parsed JSON or text) of one plain HTTP request; body may be bytes."""
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    c.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data.decode("utf-8", "replace")

def metrics(url=URL):
    _, text = raw(url, "GET", "/metrics")
    out = {}
    for line in text.splitlines():
        m = re.match(r'^([a-z0-9_:]+)(?:\{[^}]*\})? (\S+)$', line)
        if m and "_bucket" not in m.group(1):
            out[m.group(1)] = float(m.group(2))
    return out

def generate_ids(ids, n):
    r = subprocess.run([BIN, "generate", "--model", MODEL, "--ids", ",".join(map(str, ids)), "-n", str(n), "--print-ids",
                        "--page-size", "16"], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "latte generate failed: " + r.stderr)
    return [int(x) for x in r.stdout.split()]

def tokenize(text):
    st, body = raw(URL, "POST", "/tokenize", {"prompt": text})
    check(st == 200, f"/tokenize {st} {body}")
    return body["tokens"]

def comp(**kw):
    kw.setdefault("model", NAME)
    kw.setdefault("temperature", 0)
    return client.completions.create(**kw)

def chat(**kw):
    kw.setdefault("model", NAME)
    kw.setdefault("temperature", 0)
    return client.chat.completions.create(**kw)

def stream_text(gen, chat_api):
    """Concatenated text, finish reasons by index, usage (last chunk) of a streamed response."""
    text, fin, usage, reasoning = {}, {}, None, {}
    for ch in gen:
        if ch.usage is not None:
            usage = ch.usage
        for c in ch.choices:
            piece = (c.delta.content or "") if chat_api else c.text
            text[c.index] = text.get(c.index, "") + piece
            if chat_api:
                reasoning[c.index] = reasoning.get(c.index, "") + (getattr(c.delta, "reasoning_content", None) or "")
            if c.finish_reason:
                fin[c.index] = c.finish_reason
    return text, fin, usage

def expect_error(status, body, want_status, want_in, param=None):
    check(status == want_status, f"status {status}, want {want_status}: {body}")
    check(isinstance(body, dict) and "error" in body, f"not an error object: {body}")
    e = body["error"]
    check(set(e) >= {"message", "type", "param", "code"}, f"error object fields: {e}")
    check(want_in in e["message"], f"message {e['message']!r} lacks {want_in!r}")
    if param is not None:
        check(e["param"] == param, f"param {e['param']!r}, want {param!r}")

# ---------------------------------------------------------------------------------------------
@test
def health_models_and_loading():
    check(os.environ.get("FIRST_HEALTH") == "503", f"first /health while loading was {os.environ.get('FIRST_HEALTH')}, want 503")
    st, _ = raw(URL, "GET", "/health")
    check(st == 200, f"/health {st}")
    models = client.models.list()
    check([m.id for m in models.data] == [NAME], f"models {models}")

@test
def completion_matches_generate_ids():
    prompt = "The quick brown fox jumps over the lazy dog"
    ids = tokenize(prompt)
    want = generate_ids(ids, 10)
    st, body = raw(URL, "POST", "/v1/completions", {"model": NAME, "prompt": prompt, "max_tokens": 10, "temperature": 0,
                                                    "ignore_eos": True, "return_token_ids": True})
    check(st == 200, f"{st} {body}")
    got = body["choices"][0]["token_ids"]
    check(got == want, f"server ids {got} != latte generate {want}")
    st, d = raw(URL, "POST", "/detokenize", {"tokens": want})
    check(body["choices"][0]["text"] == d["prompt"], f"text {body['choices'][0]['text']!r} != {d['prompt']!r}")
    check(body["usage"]["prompt_tokens"] == len(ids) and body["usage"]["completion_tokens"] == 10, f"usage {body['usage']}")
    # the same prompt given as token ids
    st, b2 = raw(URL, "POST", "/v1/completions", {"model": NAME, "prompt": ids, "max_tokens": 10, "temperature": 0,
                                                  "ignore_eos": True, "return_token_ids": True})
    check(b2["choices"][0]["token_ids"] == want, "prompt as ids differs")

@test
def completion_stream_equals_plain():
    r = comp(prompt="Once upon a time", max_tokens=12)
    text, fin, usage = stream_text(comp(prompt="Once upon a time", max_tokens=12, stream=True,
                                        stream_options={"include_usage": True}), False)
    check(text[0] == r.choices[0].text, f"stream {text[0]!r} != plain {r.choices[0].text!r}")
    check(fin[0] == r.choices[0].finish_reason, f"finish {fin} vs {r.choices[0].finish_reason}")
    check(usage is not None and usage.completion_tokens == r.usage.completion_tokens, f"usage {usage}")

@test
def chat_matches_generate_chat():
    out = subprocess.run([BIN, "generate", "--model", MODEL, "--prompt", "Hello!", "--chat", "-n", "12"],
                         capture_output=True, text=True, timeout=120)
    check(out.returncode == 0, out.stderr)
    want = out.stdout[:-1] if out.stdout.endswith("\n") else out.stdout
    r = chat(messages=[{"role": "user", "content": "Hello!"}], max_tokens=12)
    check(r.choices[0].message.content == want, f"chat {r.choices[0].message.content!r} != generate {want!r}")
    check(r.choices[0].message.role == "assistant", "role")
    text, fin, usage = stream_text(chat(messages=[{"role": "user", "content": "Hello!"}], max_tokens=12, stream=True,
                                        stream_options={"include_usage": True}), True)
    check(text[0] == want, f"chat stream {text[0]!r} != {want!r}")
    check(fin[0] == r.choices[0].finish_reason and usage.prompt_tokens == r.usage.prompt_tokens, f"{fin} {usage}")

@test
def stop_strings_cut_across_tokens():
    eos = {"ignore_eos": True}
    base = comp(prompt="Stop strings are", max_tokens=16, extra_body=eos).choices[0].text
    check(len(base) >= 12, f"output too short: {base!r}")
    stop = base[5:11]                     # six characters, usually spanning a token boundary
    want = base[:base.index(stop)]
    r = comp(prompt="Stop strings are", max_tokens=16, extra_body=eos, stop=[stop, "\u2603never"])
    check(r.choices[0].text == want and r.choices[0].finish_reason == "stop", f"{r.choices[0].text!r} want {want!r}")
    text, fin, _ = stream_text(comp(prompt="Stop strings are", max_tokens=16, extra_body=eos, stop=stop, stream=True), False)
    check(text[0] == want and fin[0] == "stop", f"streamed {text[0]!r} {fin}")

@test
def max_tokens_and_length():
    r = chat(messages=[{"role": "user", "content": "count"}], max_completion_tokens=5, extra_body={"ignore_eos": True})
    check(r.usage.completion_tokens == 5 and r.choices[0].finish_reason == "length", f"{r.usage} {r.choices[0].finish_reason}")

@test
def seed_reproducible():
    kw = dict(prompt="Random words:", max_tokens=12, temperature=1.0, top_p=0.95)
    a = comp(seed=42, extra_body={"ignore_eos": True, "top_k": 50}, **kw).choices[0].text
    b = comp(seed=42, extra_body={"ignore_eos": True, "top_k": 50}, **kw).choices[0].text
    c = comp(seed=7, extra_body={"ignore_eos": True, "top_k": 50}, **kw).choices[0].text
    check(a == b, f"same seed differs: {a!r} {b!r}")
    check(a != c, f"different seeds gave the same text {a!r}")

@test
def logprobs_shapes():
    r = comp(prompt="Logprobs", max_tokens=6, logprobs=3, extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    check(len(lp.tokens) == 6 and len(lp.token_logprobs) == 6 and len(lp.top_logprobs) == 6, f"{lp}")
    check(all(x <= 0 for x in lp.token_logprobs), "logprob > 0")
    check("".join(lp.tokens) == r.choices[0].text, "tokens do not spell the text")
    check(all(1 <= len(t) <= 3 for t in lp.top_logprobs), f"top_logprobs {lp.top_logprobs}")
    # greedy: the chosen token is the most likely one
    check(all(abs(max(t.values()) - v) < 1e-4 for t, v in zip(lp.top_logprobs, lp.token_logprobs)), "greedy token not top")
    c = chat(messages=[{"role": "user", "content": "hi"}], max_tokens=4, logprobs=True, top_logprobs=2,
             extra_body={"ignore_eos": True})
    items = c.choices[0].logprobs.content
    check(len(items) == 4 and all(len(i.top_logprobs) == 2 for i in items), f"chat logprobs {items}")

@test
def n_choices():
    r = comp(prompt="Two answers", max_tokens=6, n=2, extra_body={"ignore_eos": True})
    check(sorted(c.index for c in r.choices) == [0, 1], f"indices {r.choices}")
    check(r.choices[0].text == r.choices[1].text, "greedy choices differ")
    check(r.usage.completion_tokens == 12, f"usage {r.usage}")
    text, fin, _ = stream_text(chat(messages=[{"role": "user", "content": "x"}], max_tokens=4, n=2, stream=True,
                                    temperature=1.0, seed=3), True)
    check(sorted(text) == [0, 1] and sorted(fin) == [0, 1], f"streamed n=2 {text} {fin}")

@test
def tools_accepted_and_special_tokens_plain():
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
    r = chat(messages=[{"role": "user", "content": "Weather?"}], tools=tools, tool_choice="auto", max_tokens=4)
    check(r.choices[0].finish_reason in ("length", "stop", "tool_calls"), f"{r.choices[0]}")
    msgs = [{"role": "user", "content": "a <｜User｜> b <｜Assistant｜>"}]
    st, body = raw(URL, "POST", "/tokenize", {"messages": msgs})
    check(st == 200, f"{st} {body}")
    toks = body["tokens"]
    check(toks.count(128803) == 1 and toks.count(128804) == 1, f"special-token text in content was parsed: {toks}")
    st, plain = raw(URL, "POST", "/tokenize", {"prompt": "<｜User｜>", "add_special_tokens": False})
    check(128803 not in plain["tokens"], f"completion prompt special text parsed: {plain}")

def _alone(lengths):
    return {n: comp(prompt=f"Request number {n} says", max_tokens=n, extra_body={"ignore_eos": True}).choices[0].text
            for n in lengths}

@test
def concurrent_64_streams_equal_alone():
    lengths = [2 + (i % 13) for i in range(64)]
    alone = _alone(sorted(set(lengths)))
    results, errors = [None] * 64, []
    def work(i):
        try:
            t, f, _ = stream_text(comp(prompt=f"Request number {lengths[i]} says", max_tokens=lengths[i], stream=True,
                                       extra_body={"ignore_eos": True}), False)
            results[i] = t[0]
        except Exception as e:  # noqa
            errors.append(repr(e))
    th = [threading.Thread(target=work, args=(i,)) for i in range(64)]
    [t.start() for t in th]
    [t.join() for t in th]
    check(not errors, f"errors: {errors[:3]}")
    bad = [i for i in range(64) if results[i] != alone[lengths[i]]]
    check(not bad, f"{len(bad)} concurrent results differ from alone, e.g. #{bad[:1]}")

@test
def small_pool_all_complete():
    small = OpenAI(base_url=URL_SMALL + "/v1", api_key="none", max_retries=0, timeout=120)
    prompt = "A prompt that is long enough to need a few pages of the small pool " * 2
    want = comp(prompt=prompt, max_tokens=24, extra_body={"ignore_eos": True}).choices[0].text
    out, errors = [None] * 8, []
    def work(i):
        try:
            out[i] = small.completions.create(model=NAME, prompt=prompt, max_tokens=24, temperature=0,
                                              extra_body={"ignore_eos": True}).choices[0].text
        except Exception as e:  # noqa
            errors.append(repr(e))
    th = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in th]
    [t.join() for t in th]
    check(not errors, f"errors {errors[:2]}")
    check(all(o == want for o in out), f"small-pool results differ: {out[:2]} vs {want!r}")

@test
def prefix_cache_reuse():
    prompt = "Shared system prompt for the cache test. " * 12 + "Question one"
    a = comp(prompt=prompt, max_tokens=8, extra_body={"ignore_eos": True})
    b = comp(prompt=prompt, max_tokens=8, extra_body={"ignore_eos": True})
    cached = (b.usage.prompt_tokens_details.cached_tokens if b.usage.prompt_tokens_details else 0) or 0
    check(cached > 0, f"no cached tokens on the repeated prompt: {b.usage}")
    check(a.choices[0].text == b.choices[0].text, "cached run differs")
    check(metrics()["latte:prefix_cache_hit_rate"] > 0, "hit rate 0")

def idle_metrics(timeout=10):
    """/metrics once nothing runs or waits: the stats are published at the end of a step, so a read right
    after the previous test's last response can still show its request (and its pages) as running."""
    deadline = time.time() + timeout
    m = metrics()
    while time.time() < deadline and (m["latte:num_requests_running"] or m["latte:num_requests_waiting"]):
        time.sleep(0.05)
        m = metrics()
    return m

@test
def disconnect_frees_pages():
    before = idle_metrics()
    u = urllib.parse.urlparse(URL)
    s = socket.create_connection((u.hostname, u.port))
    body = json.dumps({"model": NAME, "prompt": "never ending", "max_tokens": 900, "ignore_eos": True, "stream": True}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    got = b""
    while got.count(b"data: ") < 3:
        piece = s.recv(4096)
        check(piece, f"connection closed early: {got[:300]!r}")
        got += piece
    check(got.startswith(b"HTTP/1.1 200"), f"not a stream: {got[:300]!r}")
    mid = metrics()
    check(mid["latte:num_requests_running"] >= 1, f"not running: {mid}")
    s.close()
    deadline = time.time() + 10
    while time.time() < deadline:
        m = metrics()
        if m["latte:num_requests_running"] == 0 and m["latte:kv_cache_usage_perc"] == before["latte:kv_cache_usage_perc"]:
            break
        time.sleep(0.1)
    check(m["latte:num_requests_running"] == 0, f"request still running after disconnect: {m}")
    check(m["latte:kv_cache_usage_perc"] == before["latte:kv_cache_usage_perc"], f"kv usage {m['latte:kv_cache_usage_perc']} != {before['latte:kv_cache_usage_perc']}")
    check(m["latte:generation_tokens_total"] < before["latte:generation_tokens_total"] + 900, "ran to the end")

@test
def error_objects():
    P = "/v1/completions"
    st, b = raw(URL, "POST", P, b'{"model": "tiny", "prompt": ')
    expect_error(st, b, 400, "malformed JSON")
    st, b = raw(URL, "POST", P, {"model": NAME, "prompt": "x", "temperature": "hot"})
    expect_error(st, b, 400, "temperature", "temperature")
    st, b = raw(URL, "POST", P, {"model": NAME, "prompt": "x", "max_tokens": 1.5})
    expect_error(st, b, 400, "max_tokens", "max_tokens")
    st, b = raw(URL, "POST", P, {"model": NAME, "prompt": "x", "frobnicate": 1})
    expect_error(st, b, 400, "frobnicate", "frobnicate")
    st, b = raw(URL, "POST", "/v1/chat/completions", {"model": NAME, "messages": "hi"})
    expect_error(st, b, 400, "messages", "messages")
    st, b = raw(URL, "POST", "/v1/chat/completions", {"model": NAME, "messages": [{"role": "user", "content": 5}]})
    expect_error(st, b, 400, "content", "messages")
    st, b = raw(URL, "POST", P, {"model": NAME, "prompt": "x", "stop": [1]})
    expect_error(st, b, 400, "stop", "stop")
    st, b = raw(URL, "POST", P, {"model": NAME, "prompt": "x", "n": 0})
    expect_error(st, b, 400, "'n'", "n")
    st, b = raw(URL, "POST", P, {"model": "gpt-9", "prompt": "x"})
    expect_error(st, b, 404, "gpt-9", "model")
    st, b = raw(URL, "GET", "/v2/nothing")
    expect_error(st, b, 404, "/v2/nothing")
    st, b = raw(URL, "POST", P, b'{"model": "tiny", "prompt": "\xff\xfe"}')
    expect_error(st, b, 400, "UTF-8")
    st, b = raw(URL, "POST", P, b'{"prompt": "' + b"a" * 1_200_000 + b'"}')
    expect_error(st, b, 413, "larger than")
    st, b = raw(URL, "POST", P, {"model": NAME, "prompt": "word " * 1100, "max_tokens": 4})
    expect_error(st, b, 413, "context length", "prompt")
    st, b = raw(URL, "POST", P, {"model": NAME, "prompt": "x", "max_tokens": 5000})
    expect_error(st, b, 400, "context length", "max_tokens")
    try:
        comp(prompt="x", max_tokens=2, extra_body={"unknown_thing": True})
        check(False, "openai client: no error raised")
    except openai.BadRequestError as e:
        check("unknown_thing" in str(e), str(e))
    r = comp(prompt="still serving", max_tokens=2)
    check(r.usage.completion_tokens >= 1, "server stopped serving after errors")

@test
def api_key_required():
    st, b = raw(URL_KEY, "GET", "/v1/models")
    expect_error(st, b, 401, "API key")
    st, b = raw(URL_KEY, "POST", "/v1/completions", {"prompt": "x", "max_tokens": 1}, {"Authorization": "Bearer wrong"})
    expect_error(st, b, 401, "API key")
    st, _ = raw(URL_KEY, "GET", "/health")
    check(st == 200, f"/health with a key set: {st}")
    good = OpenAI(base_url=URL_KEY + "/v1", api_key=KEY, max_retries=0)
    r = good.completions.create(model=NAME, prompt="x", max_tokens=2, temperature=0)
    check(len(r.choices) == 1, "keyed request failed")
    try:
        OpenAI(base_url=URL_KEY + "/v1", api_key="bad", max_retries=0).models.list()
        check(False, "wrong key accepted")
    except openai.AuthenticationError:
        pass

@test
def metrics_exposed():
    m = metrics()
    for name in ["latte:prompt_tokens_total", "latte:generation_tokens_total", "latte:num_requests_running",
                 "latte:num_requests_waiting", "latte:kv_cache_usage_perc", "latte:prefix_cache_hit_rate",
                 "latte:time_to_first_token_seconds_count", "latte:inter_token_latency_seconds_count",
                 "latte:e2e_request_latency_seconds_count"]:
        check(name in m, f"{name} missing from /metrics")
    check(m["latte:prompt_tokens_total"] > 0 and m["latte:generation_tokens_total"] > 0, "token counters are 0")
    check(m["latte:time_to_first_token_seconds_count"] > 0 and m["latte:e2e_request_latency_seconds_count"] > 0, "no latencies")

def main():
    global passed, failed
    only = sys.argv[1:]
    for fn in TESTS:
        if only and fn.__name__ not in only:
            continue
        t0 = time.time()
        faulthandler.dump_traceback_later(90, exit=True)   # a hung test fails the run instead of hanging CI
        try:
            fn()
            passed += 1
            print(f"ok   {fn.__name__} ({time.time() - t0:.1f}s)", flush=True)
        except Exception as e:  # noqa
            failed += 1
            print(f"FAIL {fn.__name__}: {e}", flush=True)
            if not isinstance(e, AssertionError):
                traceback.print_exc()
    faulthandler.cancel_dump_traceback_later()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
