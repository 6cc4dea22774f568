"""Graders for ch10_nlp.word2vec (D2L 10.3): the skip-gram data pipeline, the model, the masked
loss, and training on a corpus with planted co-occurrence clusters."""
import collections
import math
import random

import pytest
import torch
import torch.nn.functional as F

from d2lgrade import GradeFailure, assert_close, call_timeout, hidden, points, reference, tier

MODULE = "ch10_nlp.word2vec"
ref = reference(MODULE)
BOOK_PRED = torch.tensor([[1.5, 0.3, -1, 2], [1.1, -0.6, 2.2, 0.4]])
BOOK_LABEL = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0]])
BOOK_MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])


@pytest.fixture(scope="module")
def student(submission):
    return submission.module(MODULE)


@points(1)
def test_build_vocab_min_count(student):
    """Tokens seen fewer than min_count times are dropped; indices follow first occurrence."""
    raw = [["c", "b", "a", "a"], ["b", "d", "a"], ["c", "b", "e"]]
    idx_to_token, token_to_idx, counter, dataset = student.build_vocab(raw, 2)
    assert list(idx_to_token) == ["c", "b", "a"], f"idx_to_token is {idx_to_token}, expected ['c', 'b', 'a']"
    assert dict(counter) == {"c": 2, "b": 3, "a": 3}, f"counter is {counter}"
    assert [list(s) for s in dataset] == [[0, 1, 2, 2], [1, 2], [0, 1]], f"dataset is {dataset}"


@hidden
@points(1)
def test_build_vocab_random(student):
    """On a random corpus the vocabulary and the indexed sentences equal the reference's."""
    words = [f"w{i}" for i in range(30)]
    raw = [random.choices(words, weights=range(1, 31), k=random.randint(1, 12)) for _ in range(60)]
    got = student.build_vocab(raw, 5)
    exp = ref.build_vocab(raw, 5)
    assert list(got[0]) == exp[0] and dict(got[2]) == exp[2] and [list(s) for s in got[3]] == exp[3]


@points(1)
def test_discard_probability_formula(student):
    """max(1 - sqrt(t/f), 0): 'the' on the book's PTB (50770 of 887100) ~0.958; a rare word 0."""
    p = student.discard_probability(50770, 887100)
    assert abs(p - (1 - math.sqrt(1e-4 * 887100 / 50770))) < 1e-12, f"got {p}, expected about 0.958"
    assert student.discard_probability(45, 887100) == 0.0, "a word with f < t must never be dropped"


@hidden
@points(1)
def test_discard_probability_random(student):
    """Random counts, totals and thresholds agree with the formula."""
    for _ in range(20):
        n = random.randint(1000, 10 ** 6)
        c, t = random.randint(1, n), random.choice([1e-4, 1e-3, 1e-2])
        assert abs(student.discard_probability(c, n, t) - max(1 - math.sqrt(t * n / c), 0)) < 1e-12


@hidden
@points(2)
def test_subsample_rates(student, seed_child):
    """A frequent word keeps about sqrt(t/f) of its occurrences; words with f <= t keep all of theirs."""
    seed_child(1)
    # word 0: 20000 of 40000 tokens (f = 0.5); words 1..4000: 5 each (f = 1.25e-4 > t); 4001..: rare
    dataset = [[0, 1 + (i % 4000)] for i in range(20000)]
    rare = [[4001 + i, 4001 + i] for i in range(50)]
    idx_to_token = [f"w{i}" for i in range(4051)]
    counter = collections.Counter(f"w{i}" for st in dataset + rare for i in st)
    out = student.subsample(dataset + rare, idx_to_token, counter, 1e-3)
    kept0 = sum(st.count(0) for st in out)
    n = sum(len(st) for st in dataset + rare)
    keep = math.sqrt(1e-3 * n / 20000)
    sd = math.sqrt(20000 * keep * (1 - keep))
    assert abs(kept0 - 20000 * keep) < 5 * sd, "the frequent word is not kept at the rate sqrt(t / f)"
    assert [list(s) for s in out[-50:]] == rare, "words with f <= t must never be dropped"


def _check_contexts(dataset, centers, contexts, m):
    expected_centers = [tk for st in dataset if len(st) >= 2 for tk in st]
    if list(centers) != expected_centers:
        raise GradeFailure(f"centers are {list(centers)[:12]}..., expected every token of every sentence with "
                           f"at least 2 tokens: {expected_centers[:12]}...")
    positions = [(st, i) for st in dataset if len(st) >= 2 for i in range(len(st))]
    sizes = []
    for (st, i), ctx in zip(positions, contexts):
        ctx = list(ctx)
        w = max([abs(j - i) for j in range(len(st)) if st[j] in ctx] or [0])
        allowed = [st[j] for j in range(max(0, i - w), min(len(st), i + w + 1)) if j != i]
        if ctx != allowed or not 1 <= w <= m:
            raise GradeFailure(f"centre at position {i} of {st} has contexts {ctx}: expected the tokens within a "
                               f"window of 1..{m} in sentence order, without the centre")
        if w < i and i + w < len(st) - 1:
            sizes.append(w)  # window size is visible only away from both ends
    return sizes


@points(1)
def test_centers_and_contexts_book_tiny(student):
    """The book's tiny dataset with window 2: 10 centres 0..9, contexts inside the window without the centre."""
    tiny = [list(range(7)), list(range(7, 10))]
    centers, contexts = student.get_centers_and_contexts(tiny, 2)
    _check_contexts(tiny, centers, contexts, 2)


@hidden
@points(2)
def test_centers_and_contexts_random_window(student, seed_child):
    """Window sizes are drawn uniformly from 1..max_window_size; short sentences are skipped."""
    seed_child(2)
    dataset = [list(range(100 * s, 100 * s + 30)) for s in range(40)] + [[9999]]
    centers, contexts = student.get_centers_and_contexts(dataset, 4)
    sizes = _check_contexts(dataset, centers, contexts, 4)
    freq = collections.Counter(sizes)
    assert set(freq) == {1, 2, 3, 4} and min(freq.values()) > 0.18 * len(sizes), \
        "window sizes are not spread uniformly over 1..max_window_size"


@points(1)
def test_negative_weights_power(student):
    """The sampling weight of a word is count ** 0.75."""
    w = student.negative_sampling_weights(["a", "b", "c"], {"a": 16, "b": 1, "c": 81})
    assert_close(torch.tensor(w, dtype=torch.float64), torch.tensor([8.0, 1.0, 27.0], dtype=torch.float64),
                 what="negative_sampling_weights", rtol=1e-9, atol=1e-9)


@points(1)
def test_negatives_count_and_exclusion(student, seed_child):
    """len(contexts) * K negatives per centre, none of them one of that centre's contexts."""
    seed_child(3)
    contexts = [[1, 2], [0], [3, 4, 5]]
    negs = student.get_negatives(contexts, [1.0] * 8, 5)
    assert [len(n) for n in negs] == [10, 5, 15], f"negative counts are {[len(n) for n in negs]}"
    for c, n in zip(contexts, negs):
        assert not set(c) & set(n), f"negatives {n} include context words {c}"


@hidden
@points(2)
def test_negatives_distribution(student, seed_child):
    """Negatives follow the sampling weights (renormalised over the non-context words)."""
    seed_child(4)
    weights = [1.0, 2.0, 4.0, 8.0, 0.0, 5.0]
    negs = student.get_negatives([[0]] * 400, weights, 10)
    freq = collections.Counter(x for n in negs for x in n)
    total = sum(freq.values())
    assert total == 4000 and 0 not in freq and 4 not in freq
    for i, w in [(1, 2), (2, 4), (3, 8), (5, 5)]:
        p = w / 19
        assert abs(freq[i] / total - p) < 5 * math.sqrt(p * (1 - p) / total)


def _book_like_batch():
    return [(1, [2, 3], [4, 5, 6, 7]), (8, [9], [10, 11]), (12, [13, 14, 15], [16, 17, 18, 19, 20])]


@points(1)
def test_batchify_example(student):
    """batchify pads to the longest contexts+negatives with 0 and builds masks and labels."""
    centers, cn, masks, labels = student.batchify(_book_like_batch())
    assert_close(centers, torch.tensor([[1], [8], [12]]), what="centers", kind="exact")
    assert_close(cn, torch.tensor([[2, 3, 4, 5, 6, 7, 0, 0], [9, 10, 11, 0, 0, 0, 0, 0],
                                   [13, 14, 15, 16, 17, 18, 19, 20]]), what="contexts_negatives", kind="exact")
    assert_close(masks, torch.tensor([[1] * 6 + [0] * 2, [1] * 3 + [0] * 5, [1] * 8]), what="masks", kind="exact")
    assert_close(labels, torch.tensor([[1] * 2 + [0] * 6, [1] + [0] * 7, [1] * 3 + [0] * 5]), what="labels",
                 kind="exact")


@hidden
@points(1)
def test_batchify_random(student):
    """Random batches agree with the reference."""
    data = [(random.randrange(50), random.sample(range(50), random.randint(1, 6)),
             random.sample(range(50), random.randint(0, 12))) for _ in range(9)]
    got, exp = student.batchify(data), ref.batchify(data)
    for g, e, what in zip(got, exp, ["centers", "contexts_negatives", "masks", "labels"]):
        assert_close(g, e, what=what, hidden=True, kind="exact")


def _embeddings(submission, n=20, d=4):
    nn_ = submission.module("torch.nn")
    ev, eu = nn_.Embedding(n, d), nn_.Embedding(n, d)
    return ev, eu, submission.probe("state_dict", ev)["weight"], submission.probe("state_dict", eu)["weight"]


@points(1)
def test_skip_gram_shape_and_values(student, submission):
    """skip_gram of (2, 1) centres and (2, 6) words gives (2, 1, 6) inner products v_c . u_o."""
    ev, eu, V, U = _embeddings(submission)
    center, cn = torch.tensor([[1], [4]]), torch.tensor([[2, 3, 5, 6, 7, 0], [8, 9, 1, 2, 3, 0]])
    pred = student.skip_gram(center, cn, ev, eu)
    expected = torch.bmm(F.embedding(center, V), F.embedding(cn, U).permute(0, 2, 1))
    assert_close(pred.detach(), expected, what="skip_gram(center, contexts_negatives, embed_v, embed_u)",
                 kind="reduction")


@hidden
@points(1)
def test_skip_gram_gradients(student, submission):
    """Gradients reach both embeddings (centre vectors from embed_v, context vectors from embed_u)."""
    ev, eu, V, U = _embeddings(submission, 30, 5)
    center, cn = torch.randint(0, 30, (4, 1)), torch.randint(0, 30, (4, 7))
    pred = student.skip_gram(center, cn, ev, eu)
    expected = torch.bmm(F.embedding(center, V), F.embedding(cn, U).permute(0, 2, 1))
    assert_close(pred.detach(), expected, what="skip_gram", hidden=True, kind="reduction")
    assert pred.requires_grad, "skip_gram must keep the autograd graph"


@points(1)
def test_masked_bce_book_example(student):
    """The book's example rescaled by L / mask.sum(dim=1) gives [0.8740, 1.2100]."""
    loss = student.SigmoidBinaryCrossEntropyLoss()
    out = loss(BOOK_PRED, BOOK_LABEL, BOOK_MASK) * BOOK_MASK.shape[1] / BOOK_MASK.float().sum(dim=1)
    assert_close(out, torch.tensor([0.8740, 1.2100]), what="the rescaled masked loss", rtol=0, atol=5e-5)


@hidden
@points(1)
def test_masked_bce_padding_ignored(student):
    """Masked entries do not change the loss whatever their scores or labels; without a mask it is the plain mean BCE."""
    loss = student.SigmoidBinaryCrossEntropyLoss()
    pred, label = torch.randn(5, 9), (torch.rand(5, 9) > 0.5).long()
    mask = (torch.arange(9) < torch.randint(1, 10, (5, 1))).long()
    pred2, label2 = pred.clone(), label.clone()
    pred2[mask == 0] = 50.0
    label2[mask == 0] = 0
    assert_close(loss(pred2, label2, mask), ref.SigmoidBinaryCrossEntropyLoss()(pred, label, mask),
                 what="the masked loss", hidden=True, kind="reduction")
    assert_close(loss(pred, label), ref.SigmoidBinaryCrossEntropyLoss()(pred, label), what="the loss without a mask",
                 hidden=True, kind="reduction")


@points(3)
@call_timeout(90)
def test_training_recovers_planted_clusters(student, submission, seed_child, planted_corpus, planted_clusters,
                                           feedback):
    """Skip-gram trained on the project's corpus (4 planted clusters of 8 words): a word's 3 nearest neighbours are in its cluster."""
    seed_child(5)
    idx_to_token, token_to_idx, counter, dataset = student.build_vocab(planted_corpus, 5)
    data_iter = student.load_data(dataset, counter, idx_to_token, 256, 2, 5)
    nn_ = submission.module("torch.nn")
    net = nn_.Sequential(nn_.Embedding(len(idx_to_token), 16), nn_.Embedding(len(idx_to_token), 16))
    history = student.train(net, data_iter, 0.05, 4)
    W = submission.probe("state_dict", net)["0.weight"]
    Wn = W / W.norm(dim=1, keepdim=True)
    cos = Wn @ Wn.T
    cos.fill_diagonal_(-2)
    cluster = {w: c for c, words in enumerate(planted_clusters) for w in words}
    hits = total = 0
    for i, w in enumerate(idx_to_token):
        for j in cos[i].topk(3).indices.tolist():
            hits += cluster[idx_to_token[j]] == cluster[w]
            total += 1
    frac = hits / total
    feedback(f"{frac:.1%} of the 3 nearest neighbours are in the word's cluster; loss {history[0]:.2f} -> {history[-1]:.2f}")
    # reference: 100 % of neighbours in-cluster, loss 0.60 -> 0.23 in 4 epochs (lr 0.01 gives only 64 %)
    assert frac >= 0.9, f"only {frac:.1%} of the nearest neighbours are in the planted cluster (need 90 %)"
    assert history[-1] < history[0], "the training loss did not decrease"


@tier("data")
@points(1)
@call_timeout(60)
def test_ptb_valid_facts(student, submission, seed_child, data_dir, feedback):
    """PTB (valid split): sentences per line, the min-count-5 vocabulary, rare words never subsampled, 'the' kept at ~sqrt(t/f)."""
    seed_child(6)
    path = data_dir / "ptb" / "ptb.valid.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    raw = student.read_ptb(str(path))
    assert len(raw) == len(lines) and list(raw[0]) == lines[0].split(), "read_ptb: one token list per line"
    idx_to_token, token_to_idx, counter, dataset = student.build_vocab(raw, 5)
    all_counts = collections.Counter(t for ln in lines for t in ln.split())
    kept = {t: c for t, c in all_counts.items() if c >= 5}
    num_tokens = sum(kept.values())
    assert dict(counter) == kept and sum(len(s) for s in dataset) == num_tokens
    sub = student.subsample(dataset, idx_to_token, counter)
    after = collections.Counter(idx_to_token[i] for st in sub for i in st)
    keep = math.sqrt(1e-4 * num_tokens / kept["the"])
    feedback(f"{len(raw)} sentences, {num_tokens} tokens after the filter, {sum(after.values())} after subsampling; "
             f"the: before={kept['the']}, after={after['the']} (expected about {kept['the'] * keep:.0f})")
    rare = [t for t, c in kept.items() if c <= 1e-4 * num_tokens]
    assert all(after[t] == kept[t] for t in rare), "words with f <= t must keep every occurrence"
    sd = math.sqrt(kept["the"] * keep * (1 - keep))
    assert abs(after["the"] - kept["the"] * keep) < 5 * sd, "'the' is not kept at the rate sqrt(t / f)"
    # the book's batch (512, max window 5, K 5): at most 2*5 contexts + 2*5*5 negatives = 60 columns
    batch = submission.probe("materialize", student.load_data(sub, counter, idx_to_token, 512, 5, 5), 1)[0]
    shapes = [tuple(b.shape) for b in batch]
    feedback(f"first batch shapes {shapes} (the book prints 512 x 60 on the train split)")
    assert shapes[0] == (512, 1) and len({s for s in shapes[1:]}) == 1 and shapes[1][0] == 512 \
        and shapes[1][1] <= 60, f"first batch shapes {shapes}"
