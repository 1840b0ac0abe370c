"""The roles of a simulated conversation and the models that play them: the simulated user, the
assistant, the judge."""
