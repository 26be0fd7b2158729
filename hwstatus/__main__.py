from hwstatus.cli import main

main()
