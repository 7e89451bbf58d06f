# ResNet Gradient Flow Lab as a container: `docker build -t resnet-lab . && docker run -p 8501:8501 resnet-lab`.
# Works for any Docker host and for Hugging Face Spaces (Docker SDK); docs/DEPLOY.md has the steps.
FROM python:3.11-slim

# Hosted-mode limits: docs/DEPLOY.md (the file watcher is off in .streamlit/config.toml, for every way of serving).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_WAIT_POLICY=PASSIVE \
    RESNET_LAB_HOSTED=1

# Hugging Face Spaces runs containers as uid 1000; any host benefits from not running as root.
RUN useradd --create-home --uid 1000 lab
WORKDIR /home/lab/app

# CPU-only torch: PyPI's Linux wheel brings several GB of CUDA libraries a CPU host never uses.
# Only the torch wheel itself comes from PyTorch's CPU index (--no-deps); everything else,
# torch's own dependencies included, comes from PyPI in the second step, which finds
# torch==2.13.0 already satisfied by 2.13.0+cpu.
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
COPY requirements.txt .
RUN pip install --no-deps --index-url "${TORCH_CPU_INDEX}" torch==2.13.0 \
 && pip install -r requirements.txt

COPY --chown=lab:lab . .
USER lab

EXPOSE 8501
# slim has no curl: ask the app's own health endpoint with the Python that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]
# server.py is `streamlit run app.py` with the engine imported in the job workers before the server listens.
ENTRYPOINT ["python", "server.py", "--server.port", "8501", "--server.address", "0.0.0.0"]
