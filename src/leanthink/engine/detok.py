"""Incremental detokenization: each new token costs a decode of a few tokens, not of the whole output.

Decoding token by token is wrong in two ways: a byte-level token can hold half a UTF-8 character,
and SentencePiece-style tokenizers drop or add a leading space depending on what precedes a token.
So the text of new tokens is read as the difference between decoding a short window that ends just
before them and the same window with them (the scheme vLLM uses); a window that ends in a partial
character ("\\ufffd") waits for the next token.
"""

from __future__ import annotations

CONTEXT = 5  # tokens of left context kept in the window (enough for leading-space rules)


class Detokenizer:
    """Text of one row's output so far. `ids` starts with a few prompt tokens as left context."""

    __slots__ = ("ids", "start", "prefix", "read", "text", "chunk", "chunk_tokens")

    def __init__(self, prompt_tail: list[int]):
        self.ids = list(prompt_tail)
        self.start = len(self.ids)      # ids[start:] are the row's output tokens
        self.prefix = 0                 # window start
        self.read = self.start          # ids[:read] are already turned into text
        self.text = ""                  # the output text so far (complete characters only)
        self.chunk = ""                 # what the latest advance added, and from how many tokens
        self.chunk_tokens = 0

    def add(self, tokens: list[int]) -> None:
        self.ids.extend(tokens)

    def advance(self, decode, final: bool = False) -> str:
        """Turn the tokens not yet read into text; returns the new characters. A window that ends in
        a partial character waits ("") unless `final` (the row has ended: emit U+FFFD)."""
        if self.read == len(self.ids):
            return ""
        before = decode(self.ids[self.prefix:self.read])
        after = decode(self.ids[self.prefix:])
        if after.endswith("\ufffd") and not final:
            return ""
        new = after[len(before):]
        self.chunk, self.chunk_tokens = new, len(self.ids) - self.read
        self.prefix = max(self.read, len(self.ids) - CONTEXT)
        self.read = len(self.ids)
        self.text += new
        return new

    def cut(self, keep_chars: int, encode) -> tuple[int, list[int]]:
        """Cut the text back to its first `keep_chars` characters, a point inside the latest chunk.
        Returns how many tokens to take back (the chunk's) and the tokens that re-spell the part of
        the chunk that is kept; the caller replaces the former with the latter in the row."""
        chunk_start = len(self.text) - len(self.chunk)
        kept = self.text[chunk_start:keep_chars]
        tokens = encode(kept) if kept else []
        removed = self.chunk_tokens
        del self.ids[len(self.ids) - removed:]
        self.ids.extend(tokens)
        self.text = self.text[:keep_chars]
        self.chunk, self.chunk_tokens = kept, len(tokens)
        self.read = len(self.ids)
        self.prefix = max(0, self.read - CONTEXT)
        return removed, tokens

    def copy(self) -> "Detokenizer":
        d = Detokenizer.__new__(Detokenizer)
        for name in self.__slots__:
            value = getattr(self, name)
            setattr(d, name, list(value) if isinstance(value, list) else value)
        return d
