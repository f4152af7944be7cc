"""The coding service's use cases, one module per area: item codes as read (``codes``), allocation and
retirement (``allocation``), what the lifecycle's events do (``code_lifecycle``), 事项服务编码 (``item_services``),
the pinyin override dictionary (``overrides``) and the reference tables (``dictionaries``). Role and region checks
happen here."""
