"""data_iter_consecutive lays the corpus out in batch_size + 1 rows and keeps only the first batch_size."""
# module: ch06_rnn.lyrics
# catches: any

def data_iter_consecutive(corpus_indices, batch_size, num_steps, device=None):
    if device is None:
        device = torch.device("cpu")
    corpus = torch.tensor(corpus_indices, dtype=torch.float32, device=device)
    batch_len = len(corpus) // (batch_size + 1)
    indices = corpus[0: (batch_size + 1) * batch_len].view(batch_size + 1, batch_len)[:batch_size]
    epoch_size = (batch_len - 1) // num_steps
    for i in range(epoch_size):
        i = i * num_steps
        yield indices[:, i: i + num_steps], indices[:, i + 1: i + num_steps + 1]
