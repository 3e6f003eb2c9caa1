"""How a run works: the model, verdicts, the check decorator, the runner, deadlines and workers."""
