from estate.cli import main

main()
