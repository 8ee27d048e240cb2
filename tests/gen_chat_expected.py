#!/usr/bin/env python3
# gen_chat_expected.py — produce the expected renderings in tests/test_chat_template.c with Python's
# Jinja2 configured exactly as HF transformers' _compile_jinja_template does (ImmutableSandboxed-
# Environment, trim_blocks, lstrip_blocks, loopcontrols, HF's tojson and raise_exception).
# Run from the repo root: python3 tests/gen_chat_expected.py  (rewrites the GENERATED block).
import json
import os
import re
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TDIR = os.path.join(ROOT, "tests", "fixtures", "templates")
TEST = os.path.join(ROOT, "tests", "test_chat_template.c")


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


ENV = make_env()

DS = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")
TEMPLATES = {  # file -> (bos, eos) from the model's tokenizer_config.json
    "deepseek-v2.jinja": DS,
    "deepseek-v2.5.jinja": DS,
    "deepseek-v3.jinja": DS,
    "deepseek-r1.jinja": DS,
    "deepseek-r1-distill.jinja": DS,
    "llama-3.1.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "qwen2.5.jinja": (None, "<|im_end|>"),
}

SYS = {"role": "system", "content": "You are a helpful assistant."}
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "default": 1, "minimum": 0.5, "exclusive": False}},
        "required": ["city"]}}}
CONVS = {
    "multi_turn": {"messages": [SYS, {"role": "user", "content": "Hello!"},
                                {"role": "assistant", "content": "Hi there. How can I help?"},
                                {"role": "user", "content": "What is 2+2?"}]},
    "no_system": {"messages": [{"role": "user", "content": "  Hi  "},
                               {"role": "assistant", "content": " spaced answer  "},
                               {"role": "user", "content": "Thanks"}]},
    "unicode": {"messages": [{"role": "user", "content":
                              "Grüße, 世界! 🙂 \"quoted\" 'single' \\ back\nnew line\ttab <b>&amp;</b>"}]},
    "two_system": {"messages": [{"role": "system", "content": "Rule A."}, {"role": "system", "content": "Rule B."},
                                {"role": "user", "content": "Go"}]},
    "think": {"messages": [{"role": "user", "content": "Solve x+1=2"},
                           {"role": "assistant", "content": "<think>\nx = 2 - 1\n</think>\n\nx = 1"},
                           {"role": "user", "content": "And x+2=3?"}]},
    "tool_calls_str": {"messages": [
        SYS, {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
        {"role": "tool", "content": "{\"temp\": 20}"}, {"role": "tool", "content": "{\"temp\": 25}"},
        {"role": "assistant", "content": "Paris 20°C, Rome 25°C."}]},
    "tool_pending": {"messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "content": "{\"temp\": -3}"}]},
    "tool_calls_dict": {"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
        {"role": "tool", "content": "20 degrees"},
        {"role": "assistant", "content": "It is 20 degrees."}], "tools": [WEATHER_TOOL]},
    "tools_listed": {"messages": [SYS, {"role": "user", "content": "What's the weather?"}], "tools": [WEATHER_TOOL]},
    "two_calls_dict": {"messages": [
        {"role": "user", "content": "Both?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "a", "arguments": {}}},
            {"type": "function", "function": {"name": "b", "arguments": {"x": [1, 2.5, None, True]}}}]}]},
    "empty": {"messages": []},
}

# Small templates exercising the interpreter feature by feature (rendered with the same env).
MINI = [
    ("{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.length }}/{{ loop.revindex }}"
     "{{ loop.first }}{{ loop.last }};{% endfor %}", "multi_turn"),
    ("{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m['role'] }}{% if not loop.last %},{% endif %}"
     "{% else %}none{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}", "multi_turn"),
    ("{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.s = ns.s ~ m.role[0] %}"
     "{% set local = 1 %}{% endfor %}{{ ns.n }} {{ ns.s }} {{ local is defined }}", "multi_turn"),
    ("{{ messages[0].content|trim|length }} {{ messages[-1]['content'][:4] }} {{ messages[1].content[::-1] }} "
     "{{ (messages|first).role }} {{ (messages|last).role }} {{ messages|map(attribute='role')|join(', ') }}", "multi_turn"),
    ("{{ messages[0].content.split('!') }} {{ '  a b  '.strip() }}|{{ 'x-y-z'.split('-', 1) }} {{ 'abc'.startswith('ab') }}"
     " {{ 'abc'.endswith(('x', 'c')) }} {{ 'Hello'.upper() ~ 'Hello'.lower() }} {{ 'a,b'.replace(',', ';') }}"
     " {{ 'hello world'.title() }} {{ 'hello'|capitalize }} {{ 'ab'|replace('', '.') }}", "unicode"),
    # (upper/lower/title map ASCII letters only in latte: keep case-mapped text ASCII)
    ("{{ messages[0].content|length }} {{ messages[0].content[7:9] }} {{ messages[0].content|tojson }}"
     " {{ messages[0].content[9:]|string|upper }}", "unicode"),
    ("{{ tools|tojson }}\n{{ tools[0]|tojson(indent=2) }}\n{{ tools[0].function.parameters|tojson(sort_keys=true) }}"
     "\n{{ {'a': [1, 2.0, none, true, 'x'], 'b': {}} | tojson(separators=[',', ':']) }}", "tools_listed"),
    ("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e-7 }}"
     " {{ 3 * 'ab' }} {{ [1] + [2, 3] }} {{ 10 - 2.5 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 5 > 3 > 1 }}",
     "empty"),
    ("{{ none }} {{ true }} {{ [1, 'two', none, false, {'k': 'v'}] }} {{ {'q': \"it's\"} }} {{ 'a' ~ 1 ~ none }}"
     "{{ undefined_thing }}|{{ undefined_thing is defined }} {{ none is none }} {{ 1 is number }} {{ 'x' is string }}"
     " {{ {} is mapping }} {{ [] is iterable }} {{ 3 is odd }} {{ 4 is divisibleby 2 }} {{ 'b' is in 'abc' }}", "empty"),
    ("{% if messages|length > 3 %}many{% elif messages|length > 1 %}some{% else %}few{% endif %} "
     "{{ 'yes' if 'system' in messages|map(attribute='role') else 'no' }} {{ 'x' if false }}|"
     "{{ 'role' in messages[0] }} {{ 'nope' not in messages[0] }} {{ messages[0].get('missing', 'dflt') }}"
     " {{ messages[0].get('role') }} {{ messages[0]|items|list|length }} {{ messages[0].keys()|list }}", "multi_turn"),
    ("{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}{% for k in messages[0] %}[{{ k }}]{% endfor %}",
     "multi_turn"),
    ("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 5 %}{% break %}{% endif %}{{ i }}"
     "{% endfor %} {{ range(2, 8, 3)|list }} {{ range(3)|sum }} {{ [3, 1, 2]|sort }} {{ ['b', 'A', 'a']|unique|list }}"
     " {{ [1, 2, 3]|reverse|list }} {{ [4, 9]|max }} {{ ['x', 'y']|select('equalto', 'y')|list }}"
     " {{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'in', ['user'])|list|length }}",
     "multi_turn"),
    ("{% set greeting %}Hi {{ messages[0].role }}!{% endset %}{{ greeting|upper }} {{ greeting|length }}"
     "{% set d = {'a': 1, 'b': [1, 2]} %} {{ d.a }} {{ d['b'][1] }} {{ d.b|length }} {{ d.c|default('dc') }}"
     " {{ ''|default('e', true) }} {{ '3'|int + 1 }} {{ '2.5'|float }} {{ -3|abs }} {{ 2.567|round(2) }}", "multi_turn"),
    ("Line one\n  {% if true %}\n    indented {{ 'x' }}\n  {% endif %}\n{# a comment #}\n  {%- if true -%}\n  stripped\n"
     "  {%- endif %}\nafter  {{- ' tight ' -}}  end\n{%+ if true %}kept{% endif %}\n  {% for i in [1,2] %}\n{{ i }}\n"
     "  {% endfor %}\ntail\n", "empty"),
    ("{{ \"a\\tb\\n\" ~ 'c\\'d' ~ \"\\u00e9\\x41\" ~ 'not\\d' }} {{ 'multi' 'part' }} {{ ('t', 1)|list }}"
     " {{ messages|length is eq 0 }} {{ [1, 2, 3][1:] }} {{ [1, 2, 3][-1] }} {{ 'abc'[-2:] }} {{ 'abc'[5] is defined }}",
     "empty"),
    ("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'x\\ny'|indent(4, true) }}|{{ [1, 2]|join('-') }}|{{ [] | first is defined }}"
     "|{{ 'A B c'.split() }}|{{ ' x '|trim('x ') }}|{{ '  <- ->  '.lstrip() ~ '.' ~ '..x..'.rstrip('.') }}", "empty"),
    ("{{ raise_exception('Only user and assistant roles are supported!') }}", "empty"),
    ("{{ 'a' + messages[0].content }}", "tool_pending"),  # content of tool call message is none: TypeError
    ("{{ messages[0].nothing.deeper }}", "multi_turn"),
    ("{{ messages|tojson }}", "unicode"),
]


def c_str(s, indent="    "):
    """A C string literal (split at newlines) for the UTF-8 bytes of s."""
    if s is None:
        return "NULL"
    out, line = [], ""
    for ch in s:
        o = ord(ch)
        if ch == "\\": line += "\\\\"
        elif ch == "\"": line += "\\\""
        elif ch == "?": line += "\\?"
        elif ch == "\n": line += "\\n"; out.append(line); line = ""; continue
        elif ch == "\t": line += "\\t"
        elif o < 0x20 or o == 0x7f: line += "\\%03o" % o
        else: line += ch
        if len(line) > 96 and ch in " ,;>":
            out.append(line); line = ""
    if line or not out:
        out.append(line)
    return ("\n" + indent).join("\"%s\"" % x for x in out)


def render(src, conv, agp, bos, eos):
    ctx = {"messages": conv["messages"], "tools": conv.get("tools"), "add_generation_prompt": agp}
    if bos is not None: ctx["bos_token"] = bos
    if eos is not None: ctx["eos_token"] = eos
    try:
        return 0, ENV.from_string(src).render(**ctx)
    except jinja2.exceptions.UndefinedError as e:
        return 2, str(e)
    except jinja2.exceptions.TemplateError as e:
        return 1, str(e)
    except TypeError as e:
        return 2, str(e)


def main():
    rows = []
    for name, (bos, eos) in TEMPLATES.items():
        src = open(os.path.join(TDIR, name), encoding="utf-8").read()
        for cname, conv in CONVS.items():
            if cname == "empty":
                continue
            for agp in (0, 1):
                err, out = render(src, conv, bool(agp), bos, eos)
                # errors: keep the raise_exception ones (our message repeats them); skip others
                if err == 2:
                    out = None
                rows.append((c_str(name), c_str(json.dumps(conv, ensure_ascii=False)), agp, c_str(bos), c_str(eos), err, c_str(out)))
    mini = []
    for src, cname in MINI:
        err, out = render(src, CONVS[cname], True, DS[0], DS[1])
        if err == 2:
            out = None
        mini.append((c_str(src), c_str(json.dumps(CONVS[cname], ensure_ascii=False)), err, c_str(out)))
    lines = ["/* BEGIN GENERATED by tests/gen_chat_expected.py (jinja2 %s) — do not edit by hand */" % jinja2.__version__,
             "static const lt_tmpl_case lt_tmpl_cases[] = {"]
    for r in rows:
        lines.append("  {%s,\n   %s,\n   %d, %s, %s, %d,\n   %s}," % r)
    lines.append("};")
    lines.append("static const lt_mini_case lt_mini_cases[] = {")
    for r in mini:
        lines.append("  {%s,\n   %s,\n   %d,\n   %s}," % r)
    lines.append("};")
    lines.append("/* END GENERATED */")
    text = open(TEST, encoding="utf-8").read()
    new = re.sub(r"/\* BEGIN GENERATED.*?/\* END GENERATED \*/", lambda m: "\n".join(lines), text, flags=re.S)
    if new == text and "BEGIN GENERATED" not in text:
        sys.exit("markers not found in " + TEST)
    open(TEST, "w", encoding="utf-8").write(new)
    print("%d template cases, %d mini cases" % (len(rows), len(mini)))


if __name__ == "__main__":
    main()
