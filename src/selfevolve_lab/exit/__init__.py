"""ExIt (Exploratory Iteration, arXiv 2509.04575): a model trained on single self-improvement steps whose
task space grows from the partial histories met in training, prioritized by learnability.

One file per idea: `domain` (the Domain protocol and Instance), `prompts` (improve / diverge), `rewards`,
`buffer` (the learnability buffer), `diversity` (the embedding bonus), `curriculum` (ExIt without the
engine), `trainer` (it on the GRPO engine), `inference` (K-step iteration curves), `domains/` (sebench, math,
mle), `verl_sampler`.
"""
