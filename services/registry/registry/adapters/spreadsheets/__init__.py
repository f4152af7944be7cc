"""Item lists as files (I/O): reading xlsx, csv and ndjson as a stream of rows, writing exports and the template.

Reading keeps memory bounded whatever the file size: csv.reader over a text stream (csv_file.py), ndjson line by
line (ndjson_file.py), and xlsx by calamine (Rust, ≈18 times faster than openpyxl): whole up to 1 MiB, beyond that a
part of 10,000 rows at a time (the sheet's XML cut into smaller sheets, xlsx_parts.py); openpyxl in read-only mode
streams a workbook whose sheet cannot be cut that way (xlsx_file.py). Before either library reads a byte, what the
upload may expand to is bounded (xlsx_bounds.py: a zip bomb, or a sheet far beyond any list, fails the job with the
reason). reading.py opens a file of any format as rows (rows.py); formats.py tells the formats apart. Exports
(writing.py) and the import template (template.py) write the columns of registry/domain/tabular.py, so an exported
file can be edited and imported again (csv cells a spreadsheet would run as formulas are escaped, and unescaped on
import: csv_file.py)."""
