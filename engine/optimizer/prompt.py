"""``llm_prompt``: a ``get_prompt`` that asks a model, for the common case.

SPEC 13.2 leaves ``get_prompt(symbol, messages)`` to the user; in practice it asks an LLM to turn
the conversation so far into a strategy. This one sends the conversation plus one closing
instruction (the strategy text for ``ask_llm`` programs, Python for ``code`` programs) and returns
the answer. Each reply (prompt and answer) is appended to ``replies`` for tracing, and streamed
tokens go to ``on_token``, else to the listener of ``engine.streaming_llm_tokens_to`` (how
``btk-console optimize`` shows the model answering).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ..llm.client import LlmClient, LlmReply, Message, TokenCallback, token_listener

__all__ = ["CODE_INSTRUCTION", "STRATEGY_INSTRUCTION", "llm_prompt"]

STRATEGY_INSTRUCTION = (
    "From the data above, write a short trading strategy for {symbol} on 5 minute candles: when to go "
    "long, when to go short, when to wait, and where to put the take profit and the stop loss. Plain text."
)
CODE_INSTRUCTION = (
    "From the data above, write a Python function `get_signal(candles, price)` for {symbol}. `candles` is a "
    "list of dicts with keys timestamp, open, high, low, close, volume (oldest first); `price` is the current "
    "price. Return None to wait, or a dict with position ('long' or 'short'), price_take_profit, "
    "price_stop_loss (each at least 0.5% away from price) and minute_estimated_time. Standard library only. "
    "Answer with one ```python block."
)


def llm_prompt(
    client: LlmClient | Callable[[], LlmClient],
    instruction: str = STRATEGY_INSTRUCTION,
    *,
    on_token: TokenCallback | None = None,
    replies: list[LlmReply] | None = None,
) -> Callable[[str, Sequence[Message]], Awaitable[str]]:
    """A ``get_prompt`` asking ``client`` (or the client a factory makes on first use)."""
    made: list[LlmClient] = []

    async def get_prompt(symbol: str, messages: Sequence[Message]) -> str:
        if not made:
            made.append(client if isinstance(client, LlmClient) else client())
        question = Message("user", instruction.format(symbol=symbol))
        # no callback of its own: the front end's, if one listens (engine.llm.streaming_tokens_to)
        reply = await made[0].chat([*messages, question], on_token=on_token or token_listener())
        if replies is not None:
            replies.append(reply)
        return reply.content

    return get_prompt
