from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    pass
