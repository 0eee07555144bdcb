"""Stand-in for the ``tokenization_kobert.py`` that KoBERT's hub repositories ship behind ``auto_map``.

Written into hub fixtures under that file name so the fixture has the repository's layout. It behaves as the
published slow tokenizer does (whitespace collapsed, quotes folded, NFKD with accents dropped, SentencePiece
pieces, a ``<digit>,`` piece split, ids from ``vocab.txt``) and keeps its quirk of a ``save_vocabulary``
without ``filename_prefix``. kobench never imports it: the tests use ``kobert_pieces`` as the reference.
"""

import os
import shutil
import unicodedata

from transformers import PreTrainedTokenizer

VOCAB_FILES_NAMES = {"vocab_file": "tokenizer_78b3253a26.model", "vocab_txt": "vocab.txt"}
WORD_START = "\u2581"


def preprocess(text, *, remove_space=True, keep_accents=False, do_lower_case=False):
    """The text the SentencePiece model sees."""
    if remove_space:
        text = " ".join(text.strip().split())
    text = text.replace("``", '"').replace("''", '"')
    if not keep_accents:
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.lower() if do_lower_case else text


def kobert_pieces(sp_model, text, **options):
    """SentencePiece pieces of ``text``; a piece ending in ``<digit>,`` is re-split with the comma on its own."""
    pieces = []
    for piece in sp_model.encode(preprocess(text, **options), out_type=str):
        if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
            parts = sp_model.encode(piece[:-1].replace(WORD_START, ""), out_type=str)
            if not piece.startswith(WORD_START) and parts and parts[0].startswith(WORD_START):
                parts = parts[1:] if parts[0] == WORD_START else [parts[0][1:], *parts[1:]]
            pieces.extend([*parts, ","])
        else:
            pieces.append(piece)
    return pieces


class KoBertTokenizer(PreTrainedTokenizer):
    """SentencePiece segmentation, ids from ``vocab.txt``; ``[CLS] A [SEP] B [SEP]``."""

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file, vocab_txt, do_lower_case=False, remove_space=True, keep_accents=False, **kwargs):
        import sentencepiece

        with open(vocab_txt, encoding="utf-8") as handle:
            self.idx2token = [line.strip() for line in handle]
        self.token2idx = {token: index for index, token in enumerate(self.idx2token)}
        self.sp_model = sentencepiece.SentencePieceProcessor(model_file=vocab_file)
        self.vocab_file, self.vocab_txt = vocab_file, vocab_txt
        self.options = {"do_lower_case": do_lower_case, "remove_space": remove_space, "keep_accents": keep_accents}
        kwargs = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                  "mask_token": "[MASK]", **kwargs}
        super().__init__(**kwargs)

    @property
    def vocab_size(self):
        return len(self.idx2token)

    def get_vocab(self):
        return dict(self.token2idx)

    def _tokenize(self, text):
        return kobert_pieces(self.sp_model, text, **self.options)

    def _convert_token_to_id(self, token):
        return self.token2idx.get(token, self.token2idx["[UNK]"])

    def _convert_id_to_token(self, index):
        return self.idx2token[index]

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens).replace(WORD_START, " ").strip()

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        return cls + token_ids_0 + sep + ([] if token_ids_1 is None else token_ids_1 + sep)

    def save_vocabulary(self, save_directory):
        shutil.copyfile(self.vocab_file, os.path.join(save_directory, VOCAB_FILES_NAMES["vocab_file"]))
        shutil.copyfile(self.vocab_txt, os.path.join(save_directory, VOCAB_FILES_NAMES["vocab_txt"]))
        return (os.path.join(save_directory, name) for name in VOCAB_FILES_NAMES.values())
