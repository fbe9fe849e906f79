"""A small brace-aware reader for the ``.nk`` text Nuke writes (scripts, pastes, gizmos), for tests.

It follows the TCL word rules Nuke's files use, and covers what nkparser 0.3.0 does not
(docs/nuke.md): the ``version`` line after ``set cut_paste_input``, ``end_group`` closing a Group
or Gizmo whose children follow it, ``addUserKnob {...}`` as knob definitions, TCL escapes in quoted
values (``\\[ \\$ \\{ \\} \\\\``), and the node stack (``set``/``push``/``inputs``) that wires inputs.

Example:
    >>> script = parse(text)
    >>> group = script.nodes[1]
    >>> [c.cls for c in group.children], group.children[1].inputs[0].cls
    (['Read', 'Premult', 'Output'], 'Read')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

GROUP_CLASSES = ("Group", "Gizmo", "LiveGroup")
NO_INPUT_CLASSES = ("BackdropNode", "StickyNote", "Root")
_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r"}


class NkSyntaxError(ValueError):
    pass


@dataclass
class UserKnob:
    type: int
    name: str
    label: str = ""
    flags: Tuple[str, ...] = ()
    script: str = ""
    tooltip: str = ""


@dataclass
class NkNode:
    cls: str
    knobs: Dict[str, str] = field(default_factory=dict)     # values, unescaped
    raw: Dict[str, str] = field(default_factory=dict)       # values as written
    user_knobs: List[UserKnob] = field(default_factory=list)
    children: List["NkNode"] = field(default_factory=list)
    inputs: List[Optional["NkNode"]] = field(default_factory=list)
    closed: bool = True                                     # a group's end_group was found

    @property
    def name(self) -> str:
        return self.knobs.get("name", "")

    def user_knob(self, name: str) -> UserKnob:
        for knob in self.user_knobs:
            if knob.name == name:
                return knob
        raise KeyError(name)

    def child(self, cls: str) -> "NkNode":
        for node in self.children:
            if node.cls == cls:
                return node
        raise KeyError(cls)


@dataclass
class NkScript:
    version: str = ""
    nodes: List[NkNode] = field(default_factory=list)
    variables: Dict[str, Optional[NkNode]] = field(default_factory=dict)

    def all_nodes(self) -> List[NkNode]:
        out: List[NkNode] = []

        def walk(nodes: List[NkNode]) -> None:
            for node in nodes:
                out.append(node)
                walk(node.children)

        walk(self.nodes)
        return out


# -- words --------------------------------------------------------------------------------------
@dataclass
class Word:
    kind: str   # "bare", "quoted", "braced", "bracket"
    text: str   # unescaped for quoted, inner text for braced/bracket, as-is for bare
    raw: str


def split_statements(text: str) -> List[List[Word]]:
    """Split TCL-ish text into statements (lists of words); newlines end statements outside words."""
    statements: List[List[Word]] = []
    current: List[Word] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n" or ch == ";":
            if current:
                statements.append(current)
                current = []
            i += 1
        elif ch in " \t\r":
            i += 1
        elif ch == "#" and not current:
            while i < n and text[i] != "\n":
                i += 1
        elif ch == "\\" and text[i + 1:i + 2] == "\n":  # line continuation
            i += 2
        elif ch == '"':
            end = _quote_end(text, i)
            raw = text[i:end + 1]
            current.append(Word("quoted", unescape(raw[1:-1]), raw))
            i = end + 1
        elif ch == "{":
            end = _close(text, i, "{", "}")
            raw = text[i:end + 1]
            current.append(Word("braced", raw[1:-1], raw))
            i = end + 1
        elif ch == "[":
            end = _close(text, i, "[", "]")
            raw = text[i:end + 1]
            current.append(Word("bracket", raw[1:-1], raw))
            i = end + 1
        else:
            start = i
            while i < n and text[i] not in " \t\r\n;":
                i += 2 if text[i] == "\\" else 1
            raw = text[start:i]
            current.append(Word("bare", unescape(raw), raw))
    if current:
        statements.append(current)
    return statements


def _quote_end(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    raise NkSyntaxError("unclosed quote at offset {}".format(start))


def _close(text: str, start: int, opening: str, closing: str) -> int:
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == opening:
            depth += 1
        elif ch == closing:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise NkSyntaxError("unclosed {} at offset {}".format(opening, start))


def unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_UNESCAPE.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# -- nodes --------------------------------------------------------------------------------------
def parse_user_knob(body: str) -> UserKnob:
    words = [w for statement in split_statements(body) for w in statement]
    knob = UserKnob(type=int(words[0].text), name=words[1].text)
    flags = []
    i = 2
    while i < len(words):
        word = words[i].text
        if words[i].kind == "bare" and word in ("l", "T", "t", "R", "M", "n"):
            value = words[i + 1].text if i + 1 < len(words) else ""
            if word == "l":
                knob.label = value
            elif word == "T":
                knob.script = value
            elif word == "t":
                knob.tooltip = value
            i += 3 if word == "R" else 2
        else:
            flags.append(word)
            i += 1
    knob.flags = tuple(flags)
    return knob


def parse_node(cls: str, body: str) -> NkNode:
    node = NkNode(cls=cls)
    for statement in split_statements(body):
        name = statement[0].text
        if name == "addUserKnob":
            node.user_knobs.append(parse_user_knob(statement[1].text))
            continue
        value_words = statement[1:]
        node.raw[name] = " ".join(w.raw for w in value_words)
        node.knobs[name] = " ".join(w.text for w in value_words)
    return node


def parse(text: str) -> NkScript:
    """Parse ``.nk`` text: nodes nested under their groups, inputs wired from the stack."""
    script = NkScript()
    contexts: List[Tuple[Optional[NkNode], List[Optional[NkNode]]]] = [(None, [])]  # (group, stack)
    for statement in split_statements(text):
        head = statement[0]
        group, stack = contexts[-1]
        siblings = group.children if group is not None else script.nodes
        if head.text == "version" and head.kind == "bare":
            script.version = " ".join(w.text for w in statement[1:])
        elif head.text == "set" and len(statement) == 3:
            index = int(statement[2].text.split()[-1])
            script.variables[statement[1].text] = stack[-1 - index] if len(stack) > index else None
        elif head.text == "push":
            ref = statement[1].text
            stack.append(None if ref == "0" else script.variables.get(ref.lstrip("$")))
        elif head.text == "end_group":
            if group is None:
                raise NkSyntaxError("end_group without a group")
            contexts.pop()
            contexts[-1][1].append(group)
        elif len(statement) == 2 and statement[1].kind == "braced":
            node = parse_node(head.text, statement[1].text)
            default_inputs = 0 if node.cls in NO_INPUT_CLASSES else 1
            count = int(node.knobs.get("inputs", default_inputs) or 0)
            node.inputs = [stack.pop() if stack else None for _ in range(count)]
            siblings.append(node)
            if node.cls in GROUP_CLASSES:
                node.closed = False
                contexts.append((node, []))
            else:
                stack.append(node)
        else:
            raise NkSyntaxError("cannot read statement starting {!r}".format(" ".join(w.raw for w in statement)[:60]))
    for group, _stack in contexts[1:]:
        if group is not None:
            group.closed = False
    _mark_closed(script.nodes, contexts)
    return script


def _mark_closed(nodes: List[NkNode], contexts: List[Tuple[Optional[NkNode], List[Optional[NkNode]]]]) -> None:
    open_groups = {id(g) for g, _ in contexts[1:] if g is not None}
    for node in nodes:
        if node.cls in GROUP_CLASSES:
            node.closed = id(node) not in open_groups
        _mark_closed(node.children, contexts)
