"""pygru.demo - the demo application built on pygru, not the library: what
`python -m pygru demo` and examples/sentiment_*.py run. The library (pygru, pygru.nn,
pygru.optim, pygru.data, the converters) does not import it; it uses only their public
API (and two argument checks of pygru.data.batching).

    main       `python -m pygru demo`: generate the corpus, fit the bag-of-words
               baseline, train the seed's PyTorch-style GRU, print the accuracies,
               save the model, its GRU, the history and the curves (main(argv),
               run(args, out), build_parser(), PASS_MARGIN)
    sentiment  the seed documents' two sentiment models, TorchStyle and KerasStyle,
               built from pygru.nn, their training loop (train, evaluate,
               accuracy_by_group) and the examples' data and command line
               (load_reviews, example_parser, example_main, run_example)
    corpus     the generated sentiment corpus whose labels need word order
               (make_sentiment_corpus, sentiment_rule, sentiment_vocabulary,
               SentimentCorpus; the word lists POSITIVE, NEGATIVE, NEGATORS)
    baseline   BagOfWords, the order-blind logistic regression the GRU is compared with

    >>> from pygru.demo.corpus import make_sentiment_corpus
    >>> from pygru.demo.baseline import BagOfWords
    >>> c = make_sentiment_corpus(1000, seed=0)
    >>> BagOfWords().fit(c.sequences, c.labels).score(c.sequences, c.labels) > 0.5
    True

Guarantees: importing this package imports none of its modules; corpus and baseline
need NumPy and pygru.data only (no C extension); main and sentiment need the built
extension. Everything is deterministic for a given seed.
"""
