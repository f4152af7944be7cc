"""Coding service (编码服务): allocates, decodes and retires 事项编码 and 事项服务编码."""
