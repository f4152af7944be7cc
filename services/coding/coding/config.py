from shared.settings import ServiceSettings


class CodingSettings(ServiceSettings):
    pass
