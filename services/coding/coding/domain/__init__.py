"""Pure domain of the coding service: item codes and name codes (``codes``), the place-name table
(``place_names``), the rules of allocation, retirement and 事项服务编码 (``allocation``), the pinyin override
dictionary's commands (``overrides``), the dictionary views (``dictionary_views``), the event types the service
writes (``events``) and its error hierarchy (``errors``). Import from the defining module."""
