from broker.images.cli import images

images(prog_name="python -m broker.images")
