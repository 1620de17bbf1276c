from chaos.entry import main

main()
