"""examples/sentiment_keras_style.py - the Keras sentiment model of the seed article
(Embedding(10000, 128) -> GRU(128, dropout=0.2, recurrent_dropout=0.2) ->
Dense(1, sigmoid), binary cross-entropy, Adam, loss and accuracy plotted per epoch),
trained with pygru alone.

    python examples/sentiment_keras_style.py                  # the generated corpus
    python examples/sentiment_keras_style.py --imdb ~/.keras/datasets/imdb.npz \\
        --embedding 128 --hidden 128 --epochs 10             # the article's sizes

The model is pygru.demo.sentiment.KerasStyle: Keras' dropout / recurrent_dropout are
pygru's input_dropout / recurrent_dropout (one mask per review, fixed across its
steps, in libgru's C core), Dense + sigmoid + binary cross-entropy is Linear +
BCEWithLogitsLoss, and the weights start as Keras' do (Glorot-uniform kernels,
orthogonal recurrent kernel, zero biases). Keras pads reviews in front so that its
GRU ends on the last word; pygru pads after them and passes the lengths, and the
final state is taken after each review's own last word.
It prints the test accuracy per epoch (and on the generated corpus per kind of
review), then saves keras_style-model.safetensors and keras_style-curves.png into --out.

Measured (2 vCPU Intel Xeon, 1 thread, defaults, generated corpus: 8000 / 2000
reviews): about 1.6 s per epoch; test accuracy 0.95 after the first epoch and 1.00
from the third on, negated and contrast reviews included (bag-of-words: 0.48 and 0.53).
"""
import sys

from pygru.demo import sentiment


def make_model(vocab_size, args):
    return sentiment.KerasStyle(vocab_size, embedding_dim=args.embedding,
                                hidden_dim=args.hidden, dropout=0.2, recurrent_dropout=0.2,
                                seed=args.seed)


def main(argv=None):
    return sentiment.example_main("keras_style", __doc__.split("\n")[0], make_model, argv,
                                  epochs=5, hidden=64, embedding=32, lr=5e-3, batch_size=32)


if __name__ == "__main__":
    sys.exit(main())
