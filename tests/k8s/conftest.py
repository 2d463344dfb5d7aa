from tests.k8s.fixtures import fake_k8s

__all__ = ["fake_k8s"]
