"""An orders service's data and traffic, as hubchaos extensions (see examples/orders/README.md)."""
