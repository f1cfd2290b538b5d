module k2k-autoinvoice/tools/temporal-server

go 1.26.8
