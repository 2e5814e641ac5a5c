"""How the library says a decision it takes for the user.

Every decision the recipe takes on its own (the trust gate standing the prior down, a guard's floor, an
exploration switched off, an assumed activation) is one sentence. It is logged on the ``"sb3_finetune"`` logger
and, where the caller keeps a list of them (:attr:`FinetuneSetup.decisions
<sb3_finetune.recipes.FinetuneSetup.decisions>`), appended to it, so that no decision is silent and each can be
read back after the run.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("sb3_finetune")


def say(sentence: str, decisions: list[str] | None = None, *, warn: bool = False) -> str:
    """Log ``sentence`` (at warning level with ``warn``, else info) and append it to ``decisions`` when given.

    :param sentence: the decision, as one sentence a user can read.
    :param decisions: the list the decision is kept on, or ``None`` to only log it.
    :param warn: log at warning level: the decision changes what the user asked for or costs them something.
    :return: ``sentence``, so that a caller can keep or print it.
    """
    (logger.warning if warn else logger.info)("sb3_finetune: %s", sentence)
    if decisions is not None:
        decisions.append(sentence)
    return sentence
