"""The hello-world Flask app each HTTP benchmark also measures, as the machine's yardstick."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"


@app.get("/health")
def health() -> str:
    return "ok"
