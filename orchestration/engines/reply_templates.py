"""The built-in engine's reply texts, one table per language (English, German, French, Spanish,
Portuguese, Dutch). Each is written for its readers, not translated word for word: German and
Dutch address a business customer formally (Sie, u), French uses vous, Spanish the friendly tú of
Spanish-language software support (its plurals in "ustedes", understood on both sides of the
Atlantic), Portuguese is Brazilian with "você".

Placeholders: {name} the first name, {subject} the shown subject, {about} the localized
"about <subject>" phrase (empty without a subject), {seats}, {question}, {title}, {company}.
builtin.draft_reply assembles a reply from these; a language missing here is answered in English."""

EN = {
    "hello": "Hi {name},",
    "hello_anonymous": "Hi there,",
    "about": " about “{subject}”",
    "faq_thanks": "Thanks for your question{about}.",
    "faq_more": "If this doesn't fully answer it, just reply to this e-mail and we'll take it from there.",
    "faq_none_thanks": "Thanks for getting in touch{about}.",
    "faq_none": "I've passed your message to a colleague who knows this area best; you'll hear from us "
                "within one business day.",
    "demo_thanks": "Thanks for your interest{about} — we'd be glad to show you the product.",
    "demo_ask": "Could you send two or three time slots that suit you over the next week, and tell us roughly "
                "how many people will join and which tools you use today? We'll tailor the demo to that.",
    "sales_thanks": "Thanks for reaching out{about}.",
    "pace_hot": "A member of our sales team will contact you today",
    "pace_warm": "A member of our sales team will contact you within one business day",
    "pace_cold": "A member of our sales team will get back to you shortly",
    "pace_details": "{pace} to go through the details with you.",
    "pricing_seats": "We'll bring a quote for {seats} seats to that conversation.",
    "pricing_ask": "If you let us know how many people will use it, we'll prepare a quote for your team.",
    "upgrade": "Upgrading keeps all your data and settings, and the change applies straight away.",
    "sales_ask": "It helps us to know your team size and when you'd like to get started.",
    "support_thanks": "Thanks for letting us know{about}.",
    "critical": "We are treating this as critical and an engineer is looking at it now.",
    "high": "We've marked this as high priority and will update you within four business hours.",
    "normal": "We'll look into it and get back to you within one business day.",
    "sorry": "I'm sorry for the trouble this has caused.",
    "details": "If you have a screenshot, an error message or the time it happened, reply to this e-mail "
               "with it — that helps us fix it faster.",
    "escalated": "A member of our team is reviewing your message personally.",
    "also_asked": "You also asked about “{question}”. From our help article “{title}”:",
    "follow_up_one": "You also asked about “{question}”. A colleague will follow up on that personally.",
    "follow_up_many": "A colleague will follow up personally on your other questions:",
    "signoff": "Best regards,\nThe {company} team",
}

DE = {
    "hello": "Hallo {name},",
    "hello_anonymous": "Guten Tag,",
    "about": " zu „{subject}“",
    "faq_thanks": "vielen Dank für Ihre Frage{about}.",
    "faq_more": "Falls damit noch etwas offen ist, antworten Sie einfach auf diese E-Mail – wir kümmern "
                "uns darum.",
    "faq_none_thanks": "vielen Dank für Ihre Nachricht{about}.",
    "faq_none": "Ich habe sie an eine Kollegin weitergegeben, die sich in diesem Bereich am besten auskennt. "
                "Sie hören innerhalb eines Werktags von uns.",
    "demo_thanks": "vielen Dank für Ihr Interesse{about} – wir zeigen Ihnen das Produkt sehr gern.",
    "demo_ask": "Nennen Sie uns bitte zwei oder drei Termine in der kommenden Woche, die Ihnen passen, und "
                "ungefähr, wie viele Personen teilnehmen und mit welchen Tools Sie heute arbeiten. So "
                "können wir die Demo genau darauf abstimmen.",
    "sales_thanks": "vielen Dank für Ihre Anfrage{about}.",
    "pace_hot": "Jemand aus unserem Vertriebsteam meldet sich noch heute bei Ihnen",
    "pace_warm": "Jemand aus unserem Vertriebsteam meldet sich innerhalb eines Werktags bei Ihnen",
    "pace_cold": "Jemand aus unserem Vertriebsteam meldet sich in Kürze bei Ihnen",
    "pace_details": "{pace}, um die Einzelheiten zu besprechen.",
    "pricing_seats": "Zu diesem Gespräch bringen wir ein Angebot für {seats} Lizenzen mit.",
    "pricing_ask": "Wenn Sie uns sagen, wie viele Personen es nutzen werden, erstellen wir ein Angebot für "
                   "Ihr Team.",
    "upgrade": "Beim Upgrade bleiben alle Daten und Einstellungen erhalten, und die Änderung gilt sofort.",
    "sales_ask": "Es hilft uns, wenn wir wissen, wie groß Ihr Team ist und wann Sie starten möchten.",
    "support_thanks": "vielen Dank für Ihre Nachricht{about}.",
    "critical": "Wir behandeln das als kritisch; ein Techniker sieht es sich bereits an.",
    "high": "Wir haben das mit hoher Priorität eingestuft und melden uns innerhalb von vier "
            "Geschäftsstunden mit einem Zwischenstand.",
    "normal": "Wir sehen uns das an und melden uns innerhalb eines Werktags bei Ihnen.",
    "sorry": "Die Unannehmlichkeiten tun mir leid.",
    "details": "Falls Sie einen Screenshot, eine Fehlermeldung oder den Zeitpunkt haben, schicken Sie uns "
               "diese gern als Antwort auf diese E-Mail – damit können wir das Problem schneller "
               "beheben.",
    "escalated": "Ein Mitglied unseres Teams kümmert sich persönlich um Ihre Nachricht.",
    "also_asked": "Sie hatten außerdem nach „{question}“ gefragt. Aus unserem Hilfeartikel "
                  "„{title}“:",
    "follow_up_one": "Zu Ihrer Frage „{question}“ meldet sich eine Kollegin oder ein Kollege "
                     "persönlich bei Ihnen.",
    "follow_up_many": "Zu Ihren weiteren Fragen meldet sich eine Kollegin oder ein Kollege persönlich bei "
                      "Ihnen:",
    "signoff": "Viele Grüße\nIhr {company}-Team",
}

FR = {
    "hello": "Bonjour {name},",
    "hello_anonymous": "Bonjour,",
    "about": " concernant «\u00a0{subject}\u00a0»",
    "faq_thanks": "Merci pour votre question{about}.",
    "faq_more": "Si cela ne répond pas entièrement à votre question, il vous suffit de "
                "répondre à cet e-mail et nous prendrons le relais.",
    "faq_none_thanks": "Merci pour votre message{about}.",
    "faq_none": "Je l'ai transmis à la personne de l'équipe la mieux placée pour y répondre\u00a0; "
                "vous aurez de nos nouvelles sous un jour ouvré.",
    "demo_thanks": "Merci de l'intérêt que vous nous portez{about}\u00a0: nous serons ravis de vous "
                   "présenter le produit.",
    "demo_ask": "Pourriez-vous nous indiquer deux ou trois créneaux qui vous conviennent la semaine "
                "prochaine, ainsi que le nombre approximatif de participants et les outils que vous utilisez "
                "aujourd'hui\u00a0? Nous adapterons la démonstration en conséquence.",
    "sales_thanks": "Merci de nous avoir contactés{about}.",
    "pace_hot": "Un membre de notre équipe commerciale vous contactera dès aujourd'hui",
    "pace_warm": "Un membre de notre équipe commerciale vous contactera sous un jour ouvré",
    "pace_cold": "Un membre de notre équipe commerciale reviendra vers vous très bientôt",
    "pace_details": "{pace} pour faire le point avec vous.",
    "pricing_seats": "Nous vous présenterons à cette occasion un devis pour {seats} licences.",
    "pricing_ask": "Si vous nous indiquez combien de personnes l'utiliseront, nous préparerons un devis "
                   "pour votre équipe.",
    "upgrade": "Le changement d'offre conserve toutes vos données et vos réglages, et prend effet "
               "immédiatement.",
    "sales_ask": "Il nous serait utile de connaître la taille de votre équipe et la date à "
                 "laquelle vous souhaitez démarrer.",
    "support_thanks": "Merci de nous avoir prévenus{about}.",
    "critical": "Nous traitons ce problème comme critique et un ingénieur s'en occupe en ce moment.",
    "high": "Nous l'avons classé en priorité haute et vous tiendrons informé sous quatre heures "
            "ouvrées.",
    "normal": "Nous allons l'examiner et reviendrons vers vous sous un jour ouvré.",
    "sorry": "Je suis désolé pour la gêne occasionnée.",
    "details": "Si vous disposez d'une capture d'écran, d'un message d'erreur ou de l'heure à "
               "laquelle cela s'est produit, envoyez-les-nous en réponse à cet e-mail\u00a0: cela nous "
               "aidera à corriger le problème plus vite.",
    "escalated": "Un membre de notre équipe examine personnellement votre message.",
    "also_asked": "Vous nous avez également interrogés sur «\u00a0{question}\u00a0». Extrait de "
                  "notre article d'aide «\u00a0{title}\u00a0»\u00a0:",
    "follow_up_one": "Concernant votre question «\u00a0{question}\u00a0», un collègue reviendra "
                     "personnellement vers vous.",
    "follow_up_many": "Un collègue reviendra personnellement vers vous sur vos autres questions\u00a0:",
    "signoff": "Bien cordialement,\nL'équipe {company}",
}

ES = {
    "hello": "Hola, {name}:",
    "hello_anonymous": "Hola:",
    "about": " sobre «{subject}»",
    "faq_thanks": "Gracias por tu consulta{about}.",
    "faq_more": "Si con esto no queda del todo resuelta, responde a este correo y seguimos desde ahí.",
    "faq_none_thanks": "Gracias por escribirnos{about}.",
    "faq_none": "He pasado tu mensaje a la persona del equipo que mejor conoce este tema; te responderemos "
                "en un plazo de un día laborable.",
    "demo_thanks": "Gracias por tu interés{about}: estaremos encantados de enseñarte el producto.",
    "demo_ask": "¿Podrías indicarnos dos o tres horarios que te vengan bien la próxima semana, cuántas "
                "personas asistirán aproximadamente y qué herramientas utilizan hoy? Así adaptaremos la "
                "demostración a lo que necesitan.",
    "sales_thanks": "Gracias por ponerte en contacto con nosotros{about}.",
    "pace_hot": "Una persona de nuestro equipo comercial se pondrá en contacto contigo hoy mismo",
    "pace_warm": "Una persona de nuestro equipo comercial se pondrá en contacto contigo en un plazo de un "
                 "día laborable",
    "pace_cold": "Una persona de nuestro equipo comercial te responderá en breve",
    "pace_details": "{pace} para repasar los detalles.",
    "pricing_seats": "En esa conversación te presentaremos un presupuesto para {seats} licencias.",
    "pricing_ask": "Si nos dices cuántas personas lo van a usar, prepararemos un presupuesto para tu equipo.",
    "upgrade": "Al cambiar de plan se conservan todos tus datos y ajustes, y el cambio se aplica al momento.",
    "sales_ask": "Nos ayudaría saber el tamaño de tu equipo y cuándo te gustaría empezar.",
    "support_thanks": "Gracias por avisarnos{about}.",
    "critical": "Lo estamos tratando como crítico y un ingeniero ya está trabajando en ello.",
    "high": "Lo hemos marcado como prioridad alta y te daremos novedades en un plazo de cuatro horas "
            "laborables.",
    "normal": "Vamos a revisarlo y te responderemos en un plazo de un día laborable.",
    "sorry": "Siento mucho las molestias.",
    "details": "Si tienes una captura de pantalla, un mensaje de error o la hora en que ocurrió, envíanoslo "
               "respondiendo a este correo: nos ayudará a solucionarlo antes.",
    "escalated": "Una persona de nuestro equipo está revisando tu mensaje personalmente.",
    "also_asked": "También preguntabas por «{question}». Según nuestro artículo de ayuda «{title}»:",
    "follow_up_one": "Sobre tu pregunta «{question}», un compañero se pondrá en contacto contigo personalmente.",
    "follow_up_many": "Sobre tus otras preguntas, un compañero se pondrá en contacto contigo personalmente:",
    "signoff": "Un saludo,\nEl equipo de {company}",
}

PT = {
    "hello": "Olá, {name},",
    "hello_anonymous": "Olá,",
    "about": " sobre “{subject}”",
    "faq_thanks": "Obrigado pela sua pergunta{about}.",
    "faq_more": "Se isto não responder totalmente à sua dúvida, é só responder a este e-mail que "
                "continuamos a partir daí.",
    "faq_none_thanks": "Obrigado pelo seu contato{about}.",
    "faq_none": "Encaminhei a sua mensagem a um colega que conhece melhor este assunto; entraremos em contato "
                "em até um dia útil.",
    "demo_thanks": "Obrigado pelo seu interesse{about}. Teremos o maior prazer em mostrar o produto.",
    "demo_ask": "Pode nos indicar dois ou três horários que funcionem para você na próxima semana, quantas "
                "pessoas devem participar e quais ferramentas vocês usam hoje? Assim adaptamos a "
                "demonstração à sua equipe.",
    "sales_thanks": "Obrigado pelo seu contato{about}.",
    "pace_hot": "Alguém da nossa equipe comercial vai entrar em contato com você ainda hoje",
    "pace_warm": "Alguém da nossa equipe comercial vai entrar em contato com você em até um dia útil",
    "pace_cold": "Alguém da nossa equipe comercial vai responder em breve",
    "pace_details": "{pace} para conversar sobre os detalhes.",
    "pricing_seats": "Nessa conversa vamos apresentar uma proposta para {seats} licenças.",
    "pricing_ask": "Se você nos disser quantas pessoas vão usar o produto, preparamos uma proposta para a sua equipe.",
    "upgrade": "Ao mudar de plano, todos os seus dados e configurações são mantidos e a mudança vale na "
               "hora.",
    "sales_ask": "Ajuda saber o tamanho da sua equipe e quando você gostaria de começar.",
    "support_thanks": "Obrigado por nos avisar{about}.",
    "critical": "Estamos tratando isto como crítico e um engenheiro já está analisando o problema.",
    "high": "Marcamos isto como prioridade alta e daremos notícias em até quatro horas úteis.",
    "normal": "Vamos analisar e retornar em até um dia útil.",
    "sorry": "Lamentamos o transtorno.",
    "details": "Se tiver uma captura de tela, uma mensagem de erro ou o horário em que aconteceu, envie para "
               "nós respondendo a este e-mail: isso nos ajuda a resolver mais rápido.",
    "escalated": "Um membro da nossa equipe está analisando sua mensagem pessoalmente.",
    "also_asked": "Você também perguntou sobre “{question}”. Do nosso artigo de ajuda “{title}”:",
    "follow_up_one": "Sobre a sua pergunta “{question}”, um colega vai entrar em contato pessoalmente.",
    "follow_up_many": "Sobre as suas outras perguntas, um colega vai entrar em contato pessoalmente:",
    "signoff": "Atenciosamente,\nEquipe {company}",
}

NL = {
    "hello": "Beste {name},",
    "hello_anonymous": "Goedendag,",
    "about": " over ‘{subject}’",
    "faq_thanks": "Bedankt voor uw vraag{about}.",
    "faq_more": "Is uw vraag hiermee nog niet helemaal beantwoord? Reageer dan gewoon op deze e-mail, dan "
                "pakken we het verder op.",
    "faq_none_thanks": "Bedankt voor uw bericht{about}.",
    "faq_none": "Ik heb het doorgestuurd naar een collega die het meest van dit onderwerp weet; u hoort "
                "binnen één werkdag van ons.",
    "demo_thanks": "Bedankt voor uw interesse{about}. We laten u het product graag zien.",
    "demo_ask": "Kunt u ons twee of drie tijdstippen in de komende week sturen die u schikken, en ongeveer "
                "laten weten hoeveel mensen aansluiten en met welke tools u nu werkt? Dan stemmen we de demo "
                "daarop af.",
    "sales_thanks": "Bedankt voor uw bericht{about}.",
    "pace_hot": "Iemand van ons salesteam neemt vandaag nog contact met u op",
    "pace_warm": "Iemand van ons salesteam neemt binnen één werkdag contact met u op",
    "pace_cold": "Iemand van ons salesteam neemt binnenkort contact met u op",
    "pace_details": "{pace} om de details door te nemen.",
    "pricing_seats": "We nemen dan een offerte voor {seats} licenties mee.",
    "pricing_ask": "Als u ons laat weten hoeveel mensen ermee gaan werken, stellen we een offerte voor uw team "
                   "op.",
    "upgrade": "Bij een upgrade blijven al uw gegevens en instellingen behouden, en de wijziging gaat direct in.",
    "sales_ask": "Het helpt ons om te weten hoe groot uw team is en wanneer u wilt beginnen.",
    "support_thanks": "Bedankt voor uw melding{about}.",
    "critical": "We behandelen dit als kritiek en een engineer kijkt er nu naar.",
    "high": "We hebben dit hoge prioriteit gegeven en laten binnen vier werkuren van ons horen.",
    "normal": "We zoeken het uit en laten binnen één werkdag van ons horen.",
    "sorry": "Excuses voor het ongemak.",
    "details": "Heeft u een screenshot, een foutmelding of het tijdstip waarop het gebeurde? Stuur het mee "
               "als antwoord op deze e-mail; dan kunnen we het sneller oplossen.",
    "escalated": "Een collega van ons team bekijkt uw bericht persoonlijk.",
    "also_asked": "U vroeg ook naar ‘{question}’. Uit ons helpartikel ‘{title}’:",
    "follow_up_one": "Over uw vraag ‘{question}’ neemt een collega persoonlijk contact met u op.",
    "follow_up_many": "Over uw andere vragen neemt een collega persoonlijk contact met u op:",
    "signoff": "Met vriendelijke groet,\nHet {company}-team",
}

TEMPLATES: dict[str, dict[str, str]] = {"en": EN, "de": DE, "fr": FR, "es": ES, "pt": PT, "nl": NL}


def templates_for(language: str) -> dict[str, str]:
    """The table of a language code ("de", "pt-BR", "PT"); English for any other."""
    return TEMPLATES.get((language or "").strip().lower()[:2], EN)
