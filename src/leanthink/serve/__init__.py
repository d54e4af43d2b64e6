"""`leanthink serve`: an OpenAI-compatible server for every method of the project (docs/serving.md).

  config.py     ServeConfig: the command's settings and limits
  protocol.py   request bodies -> JobSpec (method, settings, prompt), 4xx errors naming the field
  prompts.py    chat messages / raw prompts -> Problems and prompts in the model's prompt style
  scheduler.py  continuous batching of cot and direct on one live engine batch
  search.py     every other method as batched solve() calls on a worker thread
  jobs.py       a request in flight and its events; responses.py: OpenAI-shaped bodies and SSE chunks
  app.py        the FastAPI app, authentication, body limits, streaming; errors.py: OpenAI's error shape
"""

from .config import ServeConfig

__all__ = ["ServeConfig", "create_app", "serve"]


def _app_module():
    try:
        from . import app
    except ImportError as e:
        from ..errors import LeanthinkError

        raise LeanthinkError(f"`leanthink serve` needs FastAPI and uvicorn ({e.name} is missing): "
                             "pip install 'leanthink[serve]'") from None
    return app


def create_app(config: ServeConfig, engine=None, scorer=None):
    return _app_module().create_app(config, engine, scorer)


def serve(config: ServeConfig, engine=None) -> None:
    _app_module().serve(config, engine)
