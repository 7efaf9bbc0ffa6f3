#!/usr/bin/env python3
"""Writes python_cases.json: small Jinja programs rendered by Python's jinja2
set up as transformers sets it up for chat templates, as the reference the Go
renderer is compared with (python_test in template_test.go).

Run from this folder: python3 gen_python_cases.py   (jinja2 3.1.x)
"""
import datetime
import json

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(jinja2.ext.Extension):
    # transformers' {% generation %} block, as it renders when no assistant
    # mask is asked for: the body, unchanged, in its own scope.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def env():
    # As transformers' _compile_jinja_template (utils/chat_template_utils.py).
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return NOW.strftime(format)

    e = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                      extensions=[AssistantTracker, loopcontrols])
    e.filters["tojson"] = tojson
    e.globals["raise_exception"] = raise_exception
    e.globals["strftime_now"] = strftime_now
    return e


# The clock the Go test pins for strftime_now.
NOW = datetime.datetime(2026, 3, 5, 7, 8, 9, 123456)

MSGS = [
    {"role": "system", "content": "  Be brief.\n"},
    {"role": "user", "content": "Hi <b>&'\"</b> ünïcødé 😀"},
    {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!", "reasoning_content": None},
    {"role": "user", "content": "Q2", "extra": {"b": 1, "a": [1, 2.5, True, None, "x"]}},
]

CASES = [
    # whitespace control with trim_blocks and lstrip_blocks
    ("ws-trim", "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n", {}),
    ("ws-minus", "a  {%- if true -%}  b  {%- endif -%}  c", {}),
    ("ws-plus", "x\n    {%+ if true %}y{% endif %}\n", {}),
    ("ws-comment", "a\n  {#- c -#}\n  b\n{# c2 #}\nd", {}),
    ("ws-trailing-newline", "a\n", {}),
    ("ws-expr-no-trim", "{{ 'a' }}\n{{ 'b' }}\n", {}),
    # printing values
    ("print-none-bool", "{{ none }}|{{ true }}|{{ false }}|{{ 1.0 }}|{{ 2 }}|{{ 1/2 }}|{{ 7//2 }}|{{ 7%3 }}|{{ 2**10 }}", {}),
    ("print-list-dict", "{{ [1, 'a', none] }}", {}),
    ("undefined-print", "[{{ nothing }}]", {}),
    ("undefined-tests", "{{ nothing is defined }} {{ nothing is undefined }} {{ x is none }} {{ x is defined }}", {"x": None}),
    # strings and python string methods
    ("str-methods", "{{ m.content.strip() }}|{{ m.content.lstrip() }}|{{ m.content.rstrip() }}|{{ m.content.strip(' \\n') }}", {"m": MSGS[0]}),
    ("str-split", "{{ 'a</think>b</think>c'.split('</think>')[-1] }}|{{ 'a b  c'.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ ''.split(',') }}", {}),
    ("str-strip-args", "[{{ ' \\t\\x1fa b\\n '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ 'xxaxx'.lstrip('x') }}][{{ 'xxaxx'.rstrip('x') }}][{{ '  a'.strip(none) }}]", {}),
    ("index-negative-first", "{{ '</think>'.split('</think>')[-1] }}|{{ 'a'.split('x')[-1] }}|{{ 'a,b'.split(',')[-2] }}|{{ messages[-1].role }}|{{ messages[-4].role }}|{{ messages[-5] is defined }}", {"messages": MSGS}),
    ("index-negative-one-message", "{{ messages[-1].role }}|{{ messages[0].role }}", {"messages": MSGS[:1]}),
    ("str-index-negative", "{{ 'abc'[-1] }}|{{ 'a'[-1] }}|{{ 'ü'[-1] }}", {}),
    ("list-literal-index-negative", "{{ ['a'][-1] }}|{{ ['a', 'b'][-2] }}", {}),
    ("str-split-args", "{{ '  a  b c  '.split() }}{{ '  a  b c  '.split(none, 1) }}{{ '  a  b c  '.rsplit(none, 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ 'a,b,,c'.split(',') }}{{ 'a b'.split(maxsplit=0) }}{{ ''.split() }}{{ 'a<>b<>c'.split('<>', -1) }}", {}),
    ("str-startswith", "{{ 'hello'.startswith('he') }}{{ 'hello'.endswith('lo') }}{{ 'hello'.startswith(('x', 'h')) }}", {}),
    ("str-case", "{{ 'aBc'.upper() }}{{ 'aBc'.lower() }}{{ 'hello world'.title() }}{{ 'hello'.capitalize() }}", {}),
    ("str-replace-find", "{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'abc'.find('c') }}|{{ 'a-b'.join(['x','y']) }}", {}),
    ("str-in", "{{ '</think>' in m.content }}|{{ 'zz' in m.content }}", {"m": MSGS[2]}),
    ("str-concat-tilde", "{{ 'a' + 'b' }}{{ 'a' ~ 1 ~ none }}", {}),
    ("str-slice", "{{ 'abcdef'[1:3] }}{{ 'abcdef'[::-1] }}{{ 'abcdef'[-2:] }}", {}),
    ("str-unicode-len", "{{ m.content | length }} {{ m.content[-1] }}", {"m": MSGS[1]}),
    ("str-mul", "{{ '-' * 3 }}", {}),
    ("str-format", "{{ '%s-%d' % ('a', 3) }}|{{ '{} {}'.format('x', 'y') }}", {}),
    # filters
    ("filter-trim", "[{{ '  a \\n' | trim }}]", {}),
    ("filter-misc", "{{ [3,1,2] | sort | join(',') }}|{{ ['a','b'] | first }}{{ ['a','b'] | last }}|{{ 'ab' | upper }}|{{ none | default('d') }}|{{ nothing | default('u') }}|{{ '' | default('e', true) }}", {}),
    ("filter-length-count", "{{ messages | length }} {{ messages | count }}", {"messages": MSGS}),
    ("filter-selectattr", "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list | length }}", {"messages": MSGS}),
    ("filter-reject", "{{ ['a', 'code_interpreter', 'b'] | reject('equalto', 'code_interpreter') | join(', ') }}", {}),
    ("filter-items", "{% for k, v in {'b': 1, 'a': 2} | items %}{{ k }}={{ v }};{% endfor %}", {}),
    ("filter-items-var", "{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": {"y": 2, "x": 3}}}),
    ("filter-dictsort", "{% for k, v in d | dictsort %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("filter-string-int", "{{ 3 | string + 'x' }}|{{ '4' | int + 1 }}|{{ 2.7 | int }}|{{ '2.5' | float }}", {}),
    ("filter-indent", "{{ 'a\\nb' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", {}),
    ("filter-replace-capitalize", "{{ 'aXa' | replace('a', 'b') }}|{{ 'hELLO' | capitalize }}|{{ 'a b' | title }}", {}),
    ("filter-unique-min-max", "{{ [1,2,1] | unique | list }}|{{ [3,1] | min }}|{{ [3,1] | max }}|{{ [1,2] | sum }}", {}),
    ("filter-abs-round", "{{ -3 | abs }}|{{ 2.567 | round(1) }}|{{ 2.5 | round }}", {}),
    ("filter-wordcount-reverse", "{{ 'a b c' | wordcount }}|{{ [1,2] | reverse | list }}|{{ 'ab' | reverse }}", {}),
    # tojson (transformers' version)
    ("tojson-basic", "{{ x | tojson }}", {"x": {"name": "f", "arguments": {"city": "Paris", "n": 3, "f": 1.5, "ok": True, "none": None, "l": [1, "é<>&'"]}}}),
    ("tojson-indent", "{{ x | tojson(indent=4) }}", {"x": {"type": "function", "function": {"name": "get", "parameters": {"type": "object", "properties": {}, "required": []}}}}),
    ("tojson-indent2-list", "{{ [1, [2, {}], []] | tojson(indent=2) }}", {}),
    ("tojson-scalars", "{{ 'a\"b\\\\c\\n\\t\\u0001' | tojson }} {{ none | tojson }} {{ true | tojson }} {{ 1.0 | tojson }} {{ 1e20 | tojson }} {{ 0.0001 | tojson }} {{ 0.00001 | tojson }} {{ 123456789.125 | tojson }}", {}),
    ("tojson-options", "{{ x | tojson(separators=(',', ':')) }}|{{ x | tojson(sort_keys=true) }}|{{ 'é😀' | tojson(ensure_ascii=true) }}", {"x": {"b": [1, 2], "a": "x"}}),
    ("tojson-literal-dict-order", "{{ {'z': 1, 'a': [true, none]} | tojson }}", {}),
    ("tojson-message", "{{ m | tojson }}", {"m": MSGS[3]}),
    # control flow
    ("loop-vars", "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {"messages": MSGS}),
    ("loop-prev-next", "{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", {}),
    ("loop-cycle", "{% for x in [1,2,3] %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("loop-break-continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loop-else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("loop-filter", "{% for x in [1,2,3,4] if x is even %}{{ x }}{% endfor %}", {}),
    ("loop-reverse-slice", "{% for m in messages[::-1] %}{{ m.role }},{% endfor %}|{% for m in messages[1:] %}{{ m.role }},{% endfor %}", {"messages": MSGS}),
    ("loop-dict", "{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}", {}),
    ("loop-scope", "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", {}),
    ("namespace", "{% set ns = namespace(a=1, b='x') %}{% for i in [1,2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}", {}),
    ("namespace-dict-arg", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", {}),
    ("namespace-set-non-namespace", "{% set d = {'x': 1} %}{% set d.x = 2 %}{{ d.x }}", {}),
    ("macro-recursive", "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", {}),
    ("macro-infinite", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {}),
    ("immutable-list", "{% set l = [1] %}{{ l.append(2) }}{{ l }}", {}),
    ("immutable-dict", "{% set d = {'a': 1} %}{{ d.update({'b': 2}) }}{{ d }}", {}),
    ("if-elif", "{% for n in [1,2,3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %}{% endfor %}", {}),
    ("ternary", "{{ 'y' if true else 'n' }}{{ 'y' if false else 'n' }}{{ 'y' if false }}", {}),
    ("set-block", "{% set x %}a{{ 1 }}b{% endset %}[{{ x }}]", {}),
    ("macro", "{% macro f(a, b='d') %}<{{ a }}{{ b }}>{% endmacro %}{{ f(1) }}{{ f(2, b='e') }}", {}),
    ("tests", "{{ 'a' is string }}{{ 1 is number }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ [] is sequence }}{{ none is none }}{{ 1 is integer }}{{ 1.5 is float }}{{ true is boolean }}{{ 2 is odd }}{{ 'a' is lower }}", {}),
    ("tests-messages", "{{ messages[0] is mapping }}{{ messages[0].content is string }}{{ messages is sequence }}", {"messages": MSGS}),
    ("compare-logic", "{{ 1 < 2 and not (2 > 3) or false }}{{ 1 == 1.0 }}{{ 'a' != 'b' }}{{ [1] == [1] }}{{ 1 in [1, 2] }}{{ 'a' in {'a': 1} }}{{ 3 not in [1] }}", {}),
    ("dict-access", "{{ m['role'] }}{{ m.role }}{{ m.get('role') }}{{ m.get('missing', 'dflt') }}{{ 'reasoning_content' in m }}{{ m.reasoning_content is none }}", {"m": MSGS[2]}),
    ("dict-methods", "{% for k, v in m.items() %}{{ k }};{% endfor %}|{{ m.keys() | list }}|{{ m.extra.a[1] }}", {"m": MSGS[3]}),
    ("list-literal-ops", "{{ [1, 2] + [3] }}|{{ ([1, 2] | list)[0] }}|{{ (1, 2)[1] }}", {}),
    ("math", "{{ 1 + 2 * 3 - 4 / 2 }}|{{ -1 }}|{{ 10 // 3 }}|{{ 1.5 + 1 }}", {}),
    ("messages-index-neg", "{{ messages[-1].content }}|{{ messages | last | attr('role') if false else (messages | last)['role'] }}", {"messages": MSGS}),
    # transformers globals
    ("generation-block", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% set x = 1 %}{% endgeneration %}{% else %}{{ m.role }}{% endif %}\n{% endfor %}{{ x is defined }}", {"messages": MSGS}),
    ("strftime", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %-d %j %I%p %y %%') }}", {}),
    ("raise", "a{{ raise_exception('no tools allowed') }}", {}),
    ("raise-conditional", "{% if messages | length > 1 %}{{ raise_exception('too many: ' + messages | length | string) }}{% endif %}ok", {"messages": MSGS}),
    ("range", "{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ range(5, 0, -2) | list }}", {}),
    ("range-too-big", "{% for i in range(1000000) %}{% endfor %}", {}),
    ("undefined-attr-of-undefined", "{{ nothing.attr }}", {}),
    ("undefined-concat", "{{ 'a' + nothing }}", {}),
]


def main():
    e = env()
    out = []
    for name, src, ctx in CASES:
        case = {"name": name, "template": src, "vars": ctx}
        try:
            case["expected"] = e.from_string(src).render(**ctx)
        except Exception as ex:  # the Go renderer must fail too
            case["error"] = f"{type(ex).__name__}: {ex}"
        out.append(case)
    with open("python_cases.json", "w", encoding="utf-8") as f:
        json.dump({"renderer": f"python jinja2 {jinja2.__version__}, transformers' environment",
                   "now": NOW.isoformat(), "cases": out}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
