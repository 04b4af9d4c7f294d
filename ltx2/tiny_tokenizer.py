"""A Gemma-style BPE tokenizer trained offline on a small built-in English corpus.

The tiny checkpoint (`ltx2.tiny`) needs a tokenizer that loads through the same `GemmaTokenizer` class as
the real Gemma 3 one, without reaching the hub. This trains a byte-fallback BPE vocabulary with the
`tokenizers` library on prompts like the ones the engine sees, laid out like Gemma's: the special tokens
first, then the 256 byte-fallback tokens, then the learned pieces. Training is deterministic, so the same
corpus always gives the same vocabulary.
"""

from __future__ import annotations

import json

from tokenizers import Tokenizer, normalizers, trainers
from tokenizers.models import BPE
from transformers import GemmaTokenizer

# Gemma's own order for the first ids: <pad>=0, <eos>=1, <bos>=2, <unk>=3 (the pipeline pads with <pad>).
SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")
# Gemma 3's image markers; the tiny text encoder's config points at these ids.
IMAGE_TOKENS = {
    "boi_token": "<start_of_image>",
    "eoi_token": "<end_of_image>",
    "image_token": "<image_soft_token>",
}
BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))
DEFAULT_VOCAB_SIZE = 768
MODEL_MAX_LENGTH = 1024

# Prompts in the style of text-to-video requests, plus a few plain sentences for common words.
CORPUS = (
    "A robot dancing in the rain on a neon-lit street at night.",
    "A golden retriever runs across a sunny meadow, slow motion, shallow depth of field.",
    "The camera slowly pans over a misty mountain lake at sunrise.",
    "A close-up of a cup of coffee with steam rising, warm morning light.",
    "Waves crash against black rocks while seagulls fly overhead.",
    "A woman in a red coat walks through a snowy forest, cinematic lighting.",
    "An astronaut floats inside a space station, looking out of a round window at the earth.",
    "A busy city intersection seen from above, cars and people moving quickly.",
    "A small boat drifts on a calm river under a cloudy sky.",
    "Fireworks explode over a harbor, reflections shimmer on the water.",
    "A chef chops vegetables on a wooden board in a bright kitchen.",
    "A cat sits on a windowsill and watches birds in the garden.",
    "Leaves fall from an old oak tree in the autumn wind.",
    "A train crosses a stone bridge in the countryside, smoke trailing behind it.",
    "A knight in silver armor rides a white horse toward a castle.",
    "Children laugh and play with a red ball in the park.",
    "A dragon flies over a medieval village, breathing fire into the clouds.",
    "Rain drops slide down a window, blurred city lights in the background.",
    "A musician plays the guitar on a stage, the crowd cheers and claps.",
    "A spaceship lands on a dusty red planet, two moons in the sky.",
    "Time-lapse of clouds moving over a desert with tall cactus plants.",
    "A hummingbird hovers near a bright pink flower, wings beating fast.",
    "An old man reads a newspaper on a bench beside a quiet canal.",
    "A sports car drives along a coastal road at sunset.",
    "Snow falls softly on a wooden cabin with warm light in the windows.",
    "A scientist looks through a microscope in a clean white laboratory.",
    "Jellyfish glow in the deep blue ocean, drifting slowly.",
    "A market full of colorful fruit, people talking and shopping.",
    "A candle flickers in a dark room, shadows dance on the wall.",
    "A skateboarder jumps down a flight of stairs in an empty plaza.",
    "The sound of thunder rolls as lightning strikes a distant hill.",
    "A voice says hello, and a dog barks twice in the distance.",
    "Soft piano music plays while the camera moves through an empty hall.",
    "A game character runs, jumps and climbs a wall in a stylized world.",
    "Low angle shot, wide lens, handheld camera, high detail, 4k, photorealistic.",
    "The quick brown fox jumps over the lazy dog.",
    "She said that they would meet there again when it was all over.",
    "This is what we have, and that is why it will be good for you and me.",
    "One, two, three, four, five, six, seven, eight, nine, ten.",
    "Red, orange, yellow, green, blue, purple, black, white, gray and brown.",
)


def train_tiny_tokenizer(vocab_size: int = DEFAULT_VOCAB_SIZE) -> GemmaTokenizer:
    """Train the BPE vocabulary on `CORPUS` and wrap it in a `GemmaTokenizer` (BOS added, padding left).

    Args:
        vocab_size: total size of the vocabulary including the special and byte-fallback tokens; the
            trainer may stop earlier when the corpus runs out of merges.
    """
    reserved = (*SPECIAL_TOKENS, *IMAGE_TOKENS.values(), *BYTE_TOKENS)
    if vocab_size <= len(reserved):
        raise ValueError(f"vocab_size={vocab_size}: must exceed the {len(reserved)} reserved tokens")
    trainer_tokenizer = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    # Gemma has no pre-tokenizer: spaces become "▁" and are merged like any other character.
    trainer_tokenizer.normalizer = normalizers.Replace(" ", "▁")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(BYTE_TOKENS),
        special_tokens=[*SPECIAL_TOKENS, *IMAGE_TOKENS.values()],
        show_progress=False,
    )
    trainer_tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    model = json.loads(trainer_tokenizer.to_str())["model"]

    learned = sorted((tok for tok in model["vocab"] if tok not in reserved), key=model["vocab"].__getitem__)
    vocab = {token: index for index, token in enumerate((*reserved, *learned))}
    merges = [tuple(merge) for merge in model["merges"]]
    return GemmaTokenizer(
        vocab=vocab,
        merges=merges,
        add_bos_token=True,
        add_eos_token=False,
        padding_side="left",
        model_max_length=MODEL_MAX_LENGTH,
        extra_special_tokens=dict(IMAGE_TOKENS),
    )
